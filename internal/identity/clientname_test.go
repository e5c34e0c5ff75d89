package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestClientNameHiddenCharacters: a client's name is shown on the login,
// consent and error pages, where a right-to-left override or another
// format character would make the page read other than what it says.
// Registration and metadata documents refuse such names; one stored before
// they were refused is shown without them.
func TestClientNameHiddenCharacters(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{
		"Acme \u202egnikcah\u202c Helper", // RIGHT-TO-LEFT OVERRIDE
		"Acme\u2066 Helper",               // LEFT-TO-RIGHT ISOLATE
		"Acme\u200f",                      // RIGHT-TO-LEFT MARK
		"Acme\u0007Helper",                // a control character
		"Acme\u2028Helper",                // LINE SEPARATOR
	} {
		r := h.register(`{"redirect_uris":["https://agent.example/cb"],"client_name":` + jsonString(t, name) + `}`)
		if r.Status != http.StatusBadRequest || r.Error != "invalid_client_metadata" {
			t.Errorf("client_name %+q: %d %q, want invalid_client_metadata", name, r.Status, r.Error)
		}
	}
	// Names in any script pass, emoji and their joiners too.
	for _, name := range []string{"Café Ünïcødé", "日本語アシスタント", "مساعد", "👩\u200d💻 Coder"} {
		if r := h.register(`{"redirect_uris":["https://agent.example/cb"],"client_name":` + jsonString(t, name) + `}`); r.Status != http.StatusCreated {
			t.Errorf("client_name %q: %d %v", name, r.Status, r.JSON["error_description"])
		}
	}

	// A metadata document with such a name is refused like any bad one.
	m := newMetadataServer(t)
	m.docs["/spoof.json"] = jsonDoc(map[string]any{"client_name": "Acme \u202egnikcah", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	mh := metadataHarness(t, m)
	notRedirected(t, "spoofing metadata document", mh.authorize(mh.signedIn("alice"), metadataAuthz(m.srv.URL+"/spoof.json")), http.StatusBadRequest)

	// A registration stored before the check: the pages drop the characters.
	if err := h.db.Clients().Create(context.Background(), store.Client{ClientID: "old-dcr", Name: "Acme \u202egnikcah\u202c",
		Kind: store.KindAgent, Source: store.SourceRegistered, RedirectURIs: []string{agentRedirect}}); err != nil {
		t.Fatal(err)
	}
	authz := authParams("client_id", "old-dcr", "redirect_uri", agentRedirect).Encode()
	resp, err := http.Get(h.url("/login?authz=" + url.QueryEscape(authz)))
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	if strings.ContainsAny(page, "\u202e\u202c") || !strings.Contains(page, "Acme gnikcah") {
		t.Errorf("login page shows the name as %q", page[strings.Index(page, "continue to"):][:60])
	}
	consent := body(t, h.authorize(h.signedIn("alice"), authParams("client_id", "old-dcr", "redirect_uri", agentRedirect)))
	if strings.ContainsAny(consent, "\u202e\u202c") || !strings.Contains(consent, "Acme gnikcah") {
		t.Error("the consent page shows the name with its format characters")
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := jsonMarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
