package identity

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// BenchmarkClientCredentials issues client_credentials tokens through the
// real handler over loopback HTTP/1.1 keep-alive, from 16 parallel clients
// (the load generator shares the 2 cores), on a SQLite store: client
// authentication (argon2id paid once, then the cached SHA-256), client
// lookup, an EdDSA-signed at+jwt, and the audit event — either a no-op
// recorder (the provider's own cost) or the real durable, hash-chained
// audit log with group commit (what a deployment pays: the token is not
// answered before its event is committed).
func BenchmarkClientCredentials(b *testing.B) {
	for _, mode := range []string{"audit=discard", "audit=durable"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, func(p *Provider) { p.Audit = audit.Discard })
			if mode == "audit=durable" {
				l := audit.New(h.db, h.p.Keys, &audit.Options{CheckpointInterval: -1})
				b.Cleanup(func() { l.Close() })
				h.p.Audit = l
			}
			body := url.Values{"grant_type": {"client_credentials"}}.Encode()
			benchPostC16(b, h.url("/token"), func() string { return body })
		})
	}
}

// BenchmarkClientCredentialsHandler is the same without the network: the
// handler called directly, which is the provider's own cost.
func BenchmarkClientCredentialsHandler(b *testing.B) {
	h := newHarness(b, func(p *Provider) { p.Audit = audit.Discard })
	mux := http.NewServeMux()
	h.p.Mount(mux)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	benchHandler(b, mux, "/token", func() string { return body }, "")
}

// benchHandler POSTs body() as the billing client to path, calling mux
// directly from RunParallel, requires 200 and an answer holding want, and
// reports tokens/s.
func benchHandler(b *testing.B, mux http.Handler, path string, body func() string, want string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", path, strings.NewReader(body()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("billing", "billing-secret")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// cycle returns a func that gives items in turn, safe for concurrent use.
func cycle(items []string) func() string {
	var next atomic.Int64
	return func() string { return items[int(next.Add(1)-1)%len(items)] }
}

// BenchmarkVerifyAccessToken is what a resource server (the MCP gateway)
// pays per request to check a token: signature, type, issuer, audience,
// lifetime. token=same presents one token again and again (a session's
// requests: the signature is checked once and remembered), token=distinct
// a token never seen before on every call.
func BenchmarkVerifyAccessToken(b *testing.B) {
	h := newHarness(b, func(p *Provider) { p.Audit = audit.Discard })
	r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	aud := h.srv.URL + "/mcp"
	for _, distinct := range []bool{false, true} {
		b.Run(tokenMode(distinct), func(b *testing.B) {
			tok := cycle(benchTokens(b, h, r.Access, distinct))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := accesstoken.Verify(h.p.Keys, tok(), h.srv.URL, aud, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func tokenMode(distinct bool) string {
	if distinct {
		return "token=distinct"
	}
	return "token=same"
}

// benchTokens returns tok alone, or b.N tokens with tok's claims, each
// with its own jti, signed by the provider's key.
func benchTokens(b *testing.B, h *harness, tok string, distinct bool) []string {
	if !distinct {
		return []string{tok}
	}
	payload, err := h.p.Keys.Verify(tok, accesstoken.Type)
	if err != nil {
		b.Fatal(err)
	}
	var c accesstoken.Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		b.Fatal(err)
	}
	out := make([]string, b.N)
	for i := range out {
		c.JTI = fmt.Sprintf("bench-%d-%d", b.N, i)
		if out[i], err = accesstoken.Mint(h.p.Keys, c); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkIntrospect is RFC 7662 introspection of an access token by an
// authenticated service client over loopback HTTP (the gateway's peers'
// figure: Hydra 2,848/s at c16). token=same and token=distinct as in
// BenchmarkVerifyAccessToken.
func BenchmarkIntrospect(b *testing.B) {
	h := newHarness(b, func(p *Provider) { p.Audit = audit.Discard })
	r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	for _, distinct := range []bool{false, true} {
		b.Run(tokenMode(distinct), func(b *testing.B) {
			benchPostC16(b, h.url("/introspect"), cycle(benchBodies(b, h, r.Access, distinct)))
		})
	}
}

func benchBodies(b *testing.B, h *harness, tok string, distinct bool) []string {
	toks := benchTokens(b, h, tok, distinct)
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = url.Values{"token": {t}}.Encode()
	}
	return out
}

// BenchmarkIntrospectHandler is introspection without the network.
func BenchmarkIntrospectHandler(b *testing.B) {
	h := newHarness(b, func(p *Provider) { p.Audit = audit.Discard })
	mux := http.NewServeMux()
	h.p.Mount(mux)
	r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	for _, distinct := range []bool{false, true} {
		b.Run(tokenMode(distinct), func(b *testing.B) {
			benchHandler(b, mux, "/introspect", cycle(benchBodies(b, h, r.Access, distinct)), `"active":true`)
		})
	}
}

// benchPostC16 POSTs body() as the billing client to url from 16 concurrent
// clients over loopback keep-alive (SetParallelism(8) on 2 cores, like the
// peers' c16), requiring 200, and reports tokens/s.
func benchPostC16(b *testing.B, url string, body func() string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("billing", "billing-secret")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
