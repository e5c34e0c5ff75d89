package gateway

//lint:file-ignore SA1019 logging and sampling are deprecated from protocol revision 2026-07-28 on; the revisions before it, which upstreams and agents still speak, have them, and the gateway relays them.

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/clip"
)

// relayLog passes a log message an upstream sent to the caller of the
// call it came for (forMessage); else it goes to the gateway's log.
func (c *upConn) relayLog(ctx context.Context, log *slog.Logger, p *mcp.LoggingMessageParams) {
	if f := c.forMessage(ctx); f != nil && (f.session != nil || f.logTo != nil) {
		if !f.relay(log) {
			return
		}
		if f.logTo != nil {
			f.logTo(p) // a flight's: to the request waiting on it
		} else {
			f.session.Log(f.ctx, p)
		}
		return
	}
	if !log.Enabled(ctx, slog.LevelDebug) {
		return // no work for what no one will read
	}
	// Cut short as a stdio upstream's stderr line is (maxStderrLine): the
	// upstream chooses how large its message is, up to an event's 16 MiB.
	data, _ := json.Marshal(p.Data)
	shown, _ := clip.String(string(data), maxStderrLine)
	level, _ := clip.String(string(p.Level), 32)
	logger, _ := clip.String(p.Logger, 128)
	log.Debug("gateway: upstream log", "level", visible(level), "logger", visible(logger), "data", visible(shown))
}

// relaySampling passes an upstream's sampling request to the caller of the
// call that sent it (forRequest).
func (c *upConn) relaySampling(ctx context.Context, p *mcp.CreateMessageParams) (*mcp.CreateMessageResult, error) {
	f, done, err := c.askFor(ctx, p)
	if err != nil {
		return nil, err
	}
	defer done()
	if f.ask != nil {
		res, err := f.ask(ctx, p)
		if err != nil {
			return nil, err
		}
		return res.(*mcp.CreateMessageResult), nil // what flight.match passes for a CreateMessageParams
	}
	// The SDK sends a session's sampling request whatever the client
	// declared (it checks elicitation, not sampling): a caller that did
	// not declare it is not asked, and the upstream is told at once,
	// rather than waiting on a client that may never answer.
	if c := capsOf(f.session); c == nil || c.Sampling == nil {
		return nil, errNoSampling
	}
	actx, end := f.askContext(ctx)
	defer end()
	res, err := f.session.CreateMessage(actx, p)
	if err == nil {
		noteGiven(f.ctx, res)
	}
	return res, err
}

// enableLogs asks c's upstream, on its session cs, to send every log
// message, if it logs: each caller's own level filters what reaches it.
// Its refusal is logged as c's errors are (logErr: the HTTP client's
// error quotes the upstream's URL, which may hold a credential).
func enableLogs(ctx context.Context, c *upConn, cs *mcp.ClientSession, log *slog.Logger) {
	caps := cs.InitializeResult().Capabilities
	if caps == nil || caps.Logging == nil {
		return
	}
	// Bounded: an upstream that never answers it must not keep its tools
	// from being listed.
	ctx, cancel := context.WithTimeout(ctx, logLevelTimeout)
	defer cancel()
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		log.Debug("gateway: upstream refused a log level", "err", c.logErr(err))
	}
}

// logLevelTimeout bounds an upstream's answer to logging/setLevel (a
// variable for tests).
var logLevelTimeout = 10 * time.Second

// addLogging announces the logging capability.
func addLogging(caps *mcp.ServerCapabilities) { caps.Logging = &mcp.LoggingCapabilities{} }

// relayDeprecated sets the handlers that relay an upstream's log messages
// and sampling requests.
func (c *upConn) relayDeprecated(opts *mcp.ClientOptions, log *slog.Logger) {
	opts.LoggingMessageHandler = func(ctx context.Context, req *mcp.LoggingMessageRequest) { c.relayLog(ctx, log, req.Params) }
	opts.CreateMessageHandler = func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return c.relaySampling(ctx, req.Params)
	}
}
