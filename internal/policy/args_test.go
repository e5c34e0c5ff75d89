package policy

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
)

func TestNumberValue(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Cedar text of the value
		wantErr string
	}{
		{in: "20", want: "20"},
		{in: "-7", want: "-7"},
		{in: "0", want: "0"},
		{in: "-0", want: "0"},
		{in: "2.0", want: "2"},
		{in: "1e3", want: "1000"},
		{in: "1.5E+1", want: "15"},
		{in: "9223372036854775807", want: "9223372036854775807"},
		{in: "-9223372036854775808", want: "-9223372036854775808"},
		{in: "12.5", want: `decimal("12.5")`},
		{in: "-0.5", want: `decimal("-0.5")`},
		{in: "0.0001", want: `decimal("0.0001")`},
		{in: "1234e-4", want: `decimal("0.1234")`},
		{in: "922337203685477.5807", want: `decimal("922337203685477.5807")`},
		{in: "-922337203685477.5808", want: `decimal("-922337203685477.5808")`},
		{in: "0.12345", wantErr: "more than 4 decimal places"},
		{in: "1e-400", wantErr: "more than 4 decimal places"},
		{in: "922337203685477.5808", wantErr: "out of the range of a Cedar decimal"},
		{in: "9223372036854775808", wantErr: "out of the range of a Cedar Long"},
		{in: "1e19", wantErr: "out of the range of a Cedar Long"},
		{in: "1e999999999999999999", wantErr: "out of the range of a Cedar Long"},
		{in: "0e999999999999999999", want: "0"},
		{in: "", wantErr: "not a JSON number"},
		{in: "01", wantErr: "not a JSON number"},
		{in: "1.", wantErr: "not a JSON number"},
		{in: ".5", wantErr: "not a JSON number"},
		{in: "1e", wantErr: "not a JSON number"},
		{in: "+1", wantErr: "not a JSON number"},
		{in: "NaN", wantErr: "not a JSON number"},
		{in: "0x10", wantErr: "not a JSON number"},
	}
	for _, tc := range tests {
		v, err := numberValue(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("numberValue(%q) = %v, %v; want error containing %q", tc.in, v, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("numberValue(%q): %v", tc.in, err)
		case string(v.MarshalCedar()) != tc.want:
			t.Errorf("numberValue(%q) = %s, want %s", tc.in, v.MarshalCedar(), tc.want)
		}
	}
}

func TestArgsRecord(t *testing.T) {
	rec, err := argsRecord(map[string]any{
		"f":      0.1, // its shortest form, not its binary expansion
		"n":      json.Number("3"),
		"big":    float64(1 << 53),
		"i":      42,
		"u":      uint64(7),
		"s":      "x",
		"b":      true,
		"null":   nil,
		"set":    []any{"a", "a", nil, false},
		"record": map[string]any{"k": json.Number("1.25"), "gone": nil},
		"empty":  map[string]any(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	// JSON null is the entity Null::"", in records and in sets alike.
	null := cedar.NewEntityUID("Null", "")
	dec, _ := cedar.NewDecimal(1, -1)
	dec125, _ := cedar.NewDecimal(125, -2)
	want := cedar.NewRecord(cedar.RecordMap{
		"f": dec, "n": cedar.Long(3), "big": cedar.Long(1 << 53), "i": cedar.Long(42), "u": cedar.Long(7),
		"s": cedar.String("x"), "b": cedar.True, "null": null,
		"set":    cedar.NewSet(cedar.String("a"), null, cedar.False),
		"record": cedar.NewRecord(cedar.RecordMap{"k": dec125, "gone": null}),
		"empty":  cedar.NewRecord(nil),
	})
	if !rec.Equal(want) {
		t.Errorf("argsRecord = %s\nwant %s", rec.MarshalCedar(), want.MarshalCedar())
	}

	for name, args := range map[string]map[string]any{
		"nan":        {"x": math.NaN()},
		"inf":        {"x": math.Inf(1)},
		"huge float": {"x": 1e300},
		"uint64":     {"x": uint64(math.MaxUint64)},
		"go type":    {"x": struct{}{}},
		"deep":       {"a": []any{map[string]any{"b": json.Number("0.00001")}}},
	} {
		if _, err := argsRecord(args); err == nil {
			t.Errorf("%s: argsRecord accepted %v", name, args)
		} else if !strings.HasPrefix(err.Error(), "args.") {
			t.Errorf("%s: error %q does not name the argument", name, err)
		}
	}
}
