package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxResponse bounds the body an HTTP tool may answer with.
const MaxResponse = 4 << 20

// HTTP calls tools that are HTTP APIs: the arguments go as the JSON body,
// the slip as the bearer token; the API verifies and redeems the slip
// (package slipverify). A JSON object answer becomes the result's
// structured content, any answer its text; a status outside 2xx is a tool
// error the agent sees.
type HTTP struct {
	// Client makes the requests; nil means a client with a 30 s timeout.
	// Whatever the client, redirects are never followed: the slip must not
	// travel to another URL.
	Client *http.Client
}

var _ Backend = (*HTTP)(nil)

// slipWithheld stands in an API's answer where the answer quoted the
// call's slip.
const slipWithheld = "[permission slip withheld]"

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// Call implements Backend.
func (h *HTTP) Call(ctx context.Context, slip string, call Call) (*mcp.CallToolResult, error) {
	spec := call.Tool.HTTP
	if spec == nil || spec.URL == "" {
		return nil, fmt.Errorf("tool %s has no HTTP backend", call.Tool.Name)
	}
	method := strings.ToUpper(spec.Method)
	if method == "" {
		method = http.MethodPost
	}
	body := call.Args
	if len(body) == 0 {
		body = []byte("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, spec.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", call.Tool.Name, err)
	}
	// The slip goes out once. With GetBody set (NewRequest sets it for
	// a bytes.Reader), Go's transport sends a GET again on its own when a
	// kept-alive connection breaks before the answer, the same slip with
	// it, though the API may have acted on the first copy; HTTP/2 resends
	// after some stream errors too. Without GetBody a request whose body
	// was written is never sent again: the call fails, its slip is voided,
	// and the caller's retry carries a new one.
	req.GetBody = nil
	req.Header.Set("Authorization", "Bearer "+slip)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	c := *defaultHTTPClient
	if h.Client != nil {
		c = *h.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		// The URL may carry credentials; name only the tool.
		if timedOut(err) {
			return nil, &TimeoutError{Tool: call.Tool.Name, After: c.Timeout}
		}
		return nil, fmt.Errorf("tool %s: request failed: %w", call.Tool.Name, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if call.HTTPStatus != nil {
		*call.HTTPStatus = resp.StatusCode
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		// Headers in time but not the body: no answer in time either.
		if timedOut(err) {
			return nil, &TimeoutError{Tool: call.Tool.Name, After: c.Timeout}
		}
		return nil, fmt.Errorf("tool %s: reading the answer: %w", call.Tool.Name, err)
	}
	if len(out) > MaxResponse {
		// A 2xx says the API acted (it redeemed the slip first): the agent
		// must not take the missing answer for a failure and call again,
		// which would act again with a new slip.
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return errorResult(fmt.Sprintf("%s ran (the API answered %d), but its answer is larger than %d bytes and is not passed on. Calling it again would run it again.",
				call.Tool.Name, resp.StatusCode, MaxResponse)), nil
		}
		return errorResult(fmt.Sprintf("The tool answered %d, with an answer larger than %d bytes (not shown).", resp.StatusCode, MaxResponse)), nil
	}
	if slip != "" {
		// An API may quote the request's token back (a refusal naming
		// the token it refused, a debug endpoint echoing the request):
		// the slip is the gateway's, and the agent never holds one. A
		// slip is base64url and dots, which JSON, HTML and URL encodings
		// leave as they are, so its plain bytes are all there is to
		// find, and a JSON answer stays JSON without them. Looked for
		// first: ReplaceAll copies an answer that does not quote it
		// (megabytes, on every call).
		if s := []byte(slip); bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(slipWithheld))
		}
	}
	res := &mcp.CallToolResult{}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.IsError = true
		text := strings.TrimSpace(string(out))
		if text == "" {
			text = http.StatusText(resp.StatusCode)
		}
		res.Content = []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("The tool answered %d: %s", resp.StatusCode, text)}}
		return res, nil
	}
	if obj := jsonObject(resp.Header.Get("Content-Type"), out); obj != nil {
		res.StructuredContent = obj
	}
	res.Content = []mcp.Content{&mcp.TextContent{Text: string(out)}}
	return res, nil
}

// timedOut reports whether err is the client's timeout or the call's
// deadline.
func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// jsonObject returns an answer that is one JSON object, with its numbers
// as the API wrote them (json.Number): read as 64-bit floats, an ID beyond
// 2^53 would reach the agent as another one.
func jsonObject(contentType string, body []byte) map[string]any {
	if !isJSON(contentType) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var obj map[string]any
	if d.Decode(&obj) != nil {
		return nil
	}
	if _, err := d.Token(); err != io.EOF {
		return nil // more than one value
	}
	return obj
}

func isJSON(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}
