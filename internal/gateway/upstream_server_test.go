package gateway_test

//lint:file-ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

func openSQLiteB(t testing.TB) *sqldb.DB {
	st, err := sqlite.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// png1x1 is a one-pixel PNG.
var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

type burstIn struct {
	Who string `json:"who"`
	N   int    `json:"n"`
}

type echoIn struct {
	Text string `json:"text"`
}

// newTestUpstream is a small MCP server with the content kinds a gateway
// must pass through unchanged.
func newTestUpstream(echoDescription string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1"}, nil)
	addEcho(s, echoDescription)
	mcp.AddTool(s, &mcp.Tool{Name: "media", Description: "Returns an image, audio and an embedded resource"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.ImageContent{Data: png1x1, MIMEType: "image/png"},
				&mcp.AudioContent{Data: []byte("RIFF0000WAVE"), MIMEType: "audio/wav"},
				&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///notes.txt", MIMEType: "text/plain", Text: "hello"}},
				&mcp.ResourceLink{URI: "file:///big.csv", Name: "big.csv"},
			}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("the upstream tool failed on purpose")
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Reports progress three times"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if pt := req.Params.GetProgressToken(); pt != nil {
				for i := 1; i <= 3; i++ {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: float64(i), Total: 3, Message: fmt.Sprintf("step %d", i)})
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "bursty", Description: "Reports much progress, logs, answers at once"},
		func(ctx context.Context, req *mcp.CallToolRequest, in burstIn) (*mcp.CallToolResult, any, error) {
			pt := req.Params.GetProgressToken()
			for k := 1; k <= in.N; k++ {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: pt, Progress: float64(k), Total: float64(in.N)})
			}
			req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "bursty", Data: "last word for " + in.Who})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "The server's process ID"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(os.Getpid())}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "getenv", Description: "A variable of the server's environment"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			Name string `json:"name"`
		}) (*mcp.CallToolResult, any, error) {
			v, ok := os.LookupEnv(in.Name)
			if !ok {
				v = "(unset)"
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: v}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "Exits the process"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			os.Exit(3)
			return nil, nil, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "Greets someone"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Say hello to " + req.Params.Arguments["name"]}}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "secret notes"}}}, nil
	})
	return s
}

func addEcho(s *mcp.Server, description string) {
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: description},
		func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, map[string]any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}},
				map[string]any{"echo": in.Text, "args": string(req.Params.Arguments)}, nil
		})
}

// runStdioUpstream serves newTestUpstream on stdin/stdout until stdin
// closes.
func runStdioUpstream() {
	description := "Echoes its text"
	if len(os.Args) > 2 {
		// A file that holds the echo tool's description, read at start:
		// a program changed on disk between two starts.
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		description = string(b)
	}
	if err := newTestUpstream(description).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
