package policy

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"

	"github.com/cedar-policy/cedar-go"
	"testing"
)

// byteSource draws the generator's choices from a fuzzer's bytes, one
// byte a choice, so that the fuzzer mutates conditions and arguments
// that parse (a mutated condition text rarely does); past the bytes, a
// generator seeded by them goes on.
type byteSource struct {
	b, all []byte
	rest   *rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.b) == 0 {
		if s.rest == nil {
			h := fnv.New64a()
			h.Write(s.all)
			s.rest = rand.NewPCG(h.Sum64(), 1)
		}
		return s.rest.Uint64()
	}
	c := s.b[0]
	s.b = s.b[1:]
	return uint64(c) * 0x0101010101010101
}

// FuzzFastPathGenerated: on conditions of the fast path's subset and
// people, agents and arguments all drawn from the fuzzer's bytes, the
// engine decides as Cedar does, says false only where Cedar does (not
// where Cedar fails), and the gate (what a tool listing shows) is
// Cedar's too.
func FuzzFastPathGenerated(f *testing.F) {
	for i := range uint64(64) {
		b := binary.BigEndian.AppendUint64(nil, i*0x9e3779b97f4a7c15)
		f.Add(append(b, b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := dgen{rand.New(&byteSource{b: data, all: data})}
		src := g.expr(g.r.IntN(4))
		c, err := compileCondition(src)
		if err != nil || c.fast == nil {
			return
		}
		p, a := g.principal(), g.agent()
		tool := g.pick("t", "alice", p.Subject)
		args := g.jsonObj(2)
		if g.r.IntN(6) == 0 {
			args = nil
		}
		in := args
		if !c.usesArgs {
			in = nil
		}
		gotOK, gotWhy := c.eval(p, a, tool, args)
		wantOK, wantWhy := c.evalCedar(p, a, tool, in)
		// Cedar's error messages may name the members of a set in any
		// order; whether the condition was false or failed must agree.
		if gotOK != wantOK || (gotWhy == c.isFalse) != (wantWhy == c.isFalse) {
			t.Fatalf("%s\n principal %+v agent %+v tool %q args %#v\n engine %v %q\n Cedar  %v %q", src, p, a, tool, args, gotOK, gotWhy, wantOK, wantWhy)
		}
		if c.gate != nil {
			dec, diag := authorize(c.gate, p, a, tool, emptyRecord)
			if got, want := c.possible(p, a, tool), dec == cedar.Allow && len(diag.Errors) == 0; got != want {
				t.Fatalf("gate of %s p=%+v a=%+v: possible %v, Cedar %v", src, p, a, got, want)
			}
		}
	})
}
