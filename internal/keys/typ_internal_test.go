package keys

import "testing"

// sameTyp compares JOSE typ values as RFC 7515 section 4.1.9 has them:
// ASCII case aside, and with an "application/" prefix, in any case,
// allowed. Letters outside ASCII are not folded.
func TestSameTyp(t *testing.T) {
	for _, tt := range []struct {
		got  string
		same bool
	}{
		{"gatehouse-slip+jwt", true},
		{"Gatehouse-Slip+JWT", true},
		{"application/gatehouse-slip+jwt", true},
		{"APPLICATION/gatehouse-slip+jwt", true},
		{"Application/gatehouse-slip+jwt", true},
		{"aPPlication/GATEHOUSE-slip+jwt", true},
		{"application/", false},
		{"application/application/gatehouse-slip+jwt", false},
		{"gatehouse-slip+jwt ", false},
		{"gatehou\u017Fe-slip+jwt", false}, // a long s, which Unicode folds to s: not folded
		{"at+jwt", false},
	} {
		if got := sameTyp(tt.got, "gatehouse-slip+jwt"); got != tt.same {
			t.Errorf("sameTyp(%q) = %v, want %v", tt.got, got, tt.same)
		}
	}
}
