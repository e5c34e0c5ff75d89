package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestClientNameInvisible: a client's name is what the login and consent
// pages say the person is dealing with, so it must show. Registration
// refuses names of invisible characters (Hangul fillers, which are letters
// by category), of nothing but spaces, or holding default-ignorable, odd
// space, private-use or unassigned code points; a name stored before that
// loses those characters on the pages, and one left blank gives way to the
// client's ID.
func TestClientNameInvisible(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ name, want string }{
		{"\u3164", "U+3164"}, // HANGUL FILLER
		{"\u3164\u3164\u3164", "U+3164"},
		{"   ", "blank"},
		{"\u0301", "blank"},      // a lone COMBINING ACUTE ACCENT
		{"Ac\u034fme", "U+034F"}, // COMBINING GRAPHEME JOINER
		{"Acme\ufe0f", "U+FE0F"}, // VARIATION SELECTOR-16
		{"Acme\U000E0100", "U+E0100"},
		{"Acme\u115f", "U+115F"},
		{"Acme\u1160", "U+1160"},
		{"Acme\uffa0", "U+FFA0"},
		{"Acme\u00ad", "U+00AD"},
		{"Acme\U000E0041", "U+E0041"}, // a tag character
		{"Acme\u00a0Helper", "U+00A0"},
		{"Acme\ue000", "U+E000"},
		{"Acme\u0378", "U+0378"},
	} {
		r := h.register(`{"redirect_uris":["https://agent.example/cb"],"client_name":` + jsonString(t, tc.name) + `}`)
		desc, _ := r.JSON["error_description"].(string)
		if r.Status != http.StatusBadRequest || r.Error != "invalid_client_metadata" ||
			!strings.HasPrefix(desc, "client_name ") || !strings.Contains(desc, tc.want) {
			t.Errorf("client_name %+q: %d %q %q, want invalid_client_metadata naming %s", tc.name, r.Status, r.Error, desc, tc.want)
		}
	}
	for _, name := range []string{"Acme Helper", "é\u0301", "❤ Helper", "$", "👩\u200d💻"} {
		if r := h.register(`{"redirect_uris":["https://agent.example/cb"],"client_name":` + jsonString(t, name) + `}`); r.Status != http.StatusCreated {
			t.Errorf("client_name %+q: %d %v", name, r.Status, r.JSON["error_description"])
		}
	}

	// A metadata document is held to the same rule.
	m := newMetadataServer(t)
	m.docs["/blank.json"] = jsonDoc(map[string]any{"client_name": "\u3164\u3164", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	mh := metadataHarness(t, m)
	notRedirected(t, "blank metadata document", mh.authorize(mh.signedIn("alice"), metadataAuthz(m.srv.URL+"/blank.json")), http.StatusBadRequest)

	// Names stored before the check.
	for _, tc := range []struct{ id, name, shown string }{
		{"old-blank", "\u3164\u3164", "<strong>old-blank</strong>"},
		{"old-spaces", "\u00a0 \u3000", "<strong>old-spaces</strong>"},
		{"old-selector", "Acme\ufe0f\u3164 Helper", "<strong>Acme Helper</strong>"},
		{"old-nbsp", "Acme\u00a0Helper", "<strong>Acme Helper</strong>"},
	} {
		if err := h.db.Clients().Create(context.Background(), store.Client{ClientID: tc.id, Name: tc.name,
			Kind: store.KindAgent, Source: store.SourceRegistered, RedirectURIs: []string{agentRedirect}}); err != nil {
			t.Fatal(err)
		}
		authz := authParams("client_id", tc.id, "redirect_uri", agentRedirect)
		resp, err := http.Get(h.url("/login?authz=" + url.QueryEscape(authz.Encode())))
		if err != nil {
			t.Fatal(err)
		}
		login := body(t, resp)
		if !strings.Contains(login, "to continue to "+tc.shown) {
			t.Errorf("%s: the login page does not say %q:\n%s", tc.id, tc.shown, login)
		}
		consent := body(t, h.authorize(h.signedIn("alice"), authz))
		if !strings.Contains(consent, tc.shown+" (<code>"+tc.id+"</code>) asks") {
			t.Errorf("%s: the consent page does not say %q:\n%s", tc.id, tc.shown, consent)
		}
		for _, page := range []string{login, consent} {
			if strings.ContainsAny(page, "\u3164\ufe0f\u00a0\u3000") {
				t.Errorf("%s: a page shows invisible characters of the name", tc.id)
			}
		}
	}
}
