package tools

import "testing"

// TestSchemaNamesVariant: the names of every keyword that declares
// properties count, wherever the schema declares them.
func TestSchemaNamesVariant(t *testing.T) {
	n := SchemaNames(map[string]any{
		"type":              "object",
		"properties":        map[string]any{"amount": map[string]any{}, "opts": map[string]any{"properties": map[string]any{"force": true}}},
		"required":          []any{"currency"},
		"allOf":             []any{map[string]any{"properties": map[string]any{"limit": map[string]any{}}}},
		"$defs":             map[string]any{"Item": map[string]any{"properties": map[string]any{"sku": true}}},
		"dependentRequired": map[string]any{"card": []any{"billing_address"}},
	})
	for _, tt := range []struct {
		args      any
		key, name string
	}{
		{map[string]any{"amount": 1, "Other": 2}, "", ""},
		{map[string]any{"AMOUNT": 1}, "AMOUNT", "amount"},
		{map[string]any{"Currency": "x"}, "Currency", "currency"},
		{map[string]any{"opts": map[string]any{"Force": true}}, "Force", "force"},
		{map[string]any{"x": []any{map[string]any{"LIMIT": 5}}}, "LIMIT", "limit"},
		{map[string]any{"SKU": "x"}, "SKU", "sku"},
		{map[string]any{"Billing_Address": "x", "CARD": 1}, "Billing_Address", "billing_address"},
	} {
		key, name, found := n.Variant(tt.args)
		if found != (tt.key != "") || key != tt.key || name != tt.name {
			t.Errorf("%v: Variant = %q %q %v, want %q %q", tt.args, key, name, found, tt.key, tt.name)
		}
	}
	if n := SchemaNames(map[string]any{"type": "object"}); n != nil {
		t.Errorf("a schema without properties has names: %+v", n)
	}
	if _, _, found := (*PropertyNames)(nil).Variant(map[string]any{"A": 1}); found {
		t.Error("no names found a variant")
	}
}
