package audit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestTypesAreTheConstants holds audit.Types to the event
// type constants of internal/audit, so that a new type is never refused
// as unknown.
func TestTypesAreTheConstants(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, v := range s.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					consts = append(consts, s)
				}
			}
		}
	}
	got := slices.Sorted(slices.Values(audit.Types))
	slices.Sort(consts)
	if !slices.Equal(got, consts) {
		t.Errorf("audit.Types = %v\nevent.go's constants = %v", got, consts)
	}
}
