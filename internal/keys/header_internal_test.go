package keys

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeHeader: decodeHeader, whose fast path is encoding/json/v2,
// reads a header as encoding/json does and refuses what it refuses, and
// every header with crit.
func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{
		`{"alg":"EdDSA","kid":"k1","typ":"gatehouse-slip+jwt"}`,
		`{"alg":"EdDSA","kid":"k1"}`,
		`{"alg":"EdDSA","ALG":"none","kid":"k1"}`,
		`{"alg":"none","alg":"EdDSA","kid":"k1"}`,
		`{"alg":"EdDSA","kid":"k1","crit":null}`,
		`{"alg":"EdDSA","kid":"k1","crit":["b64"],"b64":false}`,
		`{"alg":"EdDSA","kid":"k1","Crit":[]}`,
		`{"alg":"EdDSA","kid":"k1","jku":"https://evil.test/jwks"}`,
		"{\"alg\":\"EdDSA\",\"kid\":\"k\xff\"}",
		`{"alg":"EdDSA","kid":1}`,
		`{"alg":"EdDSA"}{}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want header
		werr := json.Unmarshal(b, &want)
		if werr == nil && want.Crit != nil {
			want, werr = header{}, errCrit
		}
		got, err := decodeHeader(b)
		if (err == nil) != (werr == nil) || err == nil && (got.Alg != want.Alg || got.Kid != want.Kid || got.Typ != want.Typ || got.Crit != nil) {
			t.Fatalf("%q: decodeHeader %+v, %v; encoding/json %+v, %v", b, got, err, want, werr)
		}
	})
}
