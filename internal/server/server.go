package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// Options configure a server. The zero value serves on 127.0.0.1:8080 from
// ./gatehouse-data.
type Options struct {
	// Addr is the listen address; empty means 127.0.0.1:8080.
	Addr string
	// Issuer is the public base URL; empty means http://<Addr>.
	Issuer string
	// Store says where the tenant lives.
	Store StoreOptions
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after the context ends; zero means 30 s.
	ShutdownTimeout time.Duration
	// Hurry, when set, cuts that wait short once it is closed (an
	// operator's second SIGTERM or Ctrl-C): the requests still in flight
	// are cut as at the timeout, and the server then closes as usual, its
	// audit trail's last records and checkpoint stored. Nil: only the
	// timeout cuts them.
	Hurry <-chan struct{}
	// MetricsAddr, when set, is where /metrics is also served, without a
	// token: an operators' address (loopback, an internal network; the
	// start warns of one that is not loopback). Either way /metrics is at
	// the issuer for the admins only: the metrics name every upstream,
	// how many tools each serves and how many callers use it, which is
	// not everyone's business (as identity servers keep theirs on an
	// admin or management port).
	MetricsAddr string
	// MetricsListener, when set, is where /metrics is served instead of
	// MetricsAddr: a listener the caller bound already (a test's, which so
	// has no port to find free and lose before it binds).
	MetricsListener net.Listener
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (for login throttling and the audit trail); empty trusts none.
	TrustedProxies []netip.Prefix
	// AllowPrivateMetadataHosts lets client ID metadata documents be
	// fetched from private and loopback addresses (tests, labs).
	AllowPrivateMetadataHosts bool
	// AllowedOrigins are the browser origins allowed to call /mcp besides
	// the issuer's own.
	AllowedOrigins []string
	// Getenv reads the secrets the tenant names by environment variable
	// (federation client secrets); nil means os.Getenv.
	Getenv func(string) string
	// Streams push the audit trail to a webhook or syslog.
	Streams StreamOptions
	// OnListen, when set, is called with the bound address once the server
	// accepts connections (before any request is served).
	OnListen func(addr string)
	// BackgroundInterval is how often the server picks up tenant changes
	// made elsewhere (rotated keys, the audit retention, the federation
	// connections) and purges expired records; zero means 10 s.
	BackgroundInterval time.Duration
	// BodyReadTimeout bounds how long a client may take to send a
	// request's body once its headers are in (headers have 10 s); a
	// response may stream for as long as it needs. Zero means 30 s.
	BodyReadTimeout time.Duration
}

// Server is a running Gatehouse.
type Server struct {
	Store    *sqldb.DB
	Keys     *keys.Manager
	Audit    *audit.Log
	Identity *identity.Provider
	Gateway  *gateway.Gateway
	Issuer   string
	Handler  http.Handler

	log      *slog.Logger
	registry *prometheus.Registry
	closers  []func() error
	// getenv reads the secrets the tenant names (Options.Getenv).
	getenv func(string) string
	// connsLoaded is the stored configuration of the federation
	// connections in use (set at start, then by the background's reloads).
	connsLoaded []config.Connection
	// probe is readyz's last write to the store (writeProbe).
	probe struct {
		mu  sync.Mutex
		at  time.Time
		err error
	}
}

// New opens the store and keys and builds the handler, without listening.
// ln's address decides the default issuer.
func New(ctx context.Context, o Options, addr string) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = WithRequestIDs(log)
	issuer := strings.TrimRight(o.Issuer, "/")
	if issuer == "" {
		issuer = "http://" + addr
	}
	if u, err := url.Parse(issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// Userinfo would be published in every discovery document and
		// token: the message does not repeat it.
		shown := o.Issuer
		if err == nil && u.User != nil {
			u.User = nil
			shown = u.String() + " (with user information)"
		}
		return nil, fmt.Errorf("--issuer %q must be an http(s) URL with no user information, query or fragment", shown)
	}
	if u, _ := url.Parse(issuer); u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		// OAuth 2.1 wants TLS everywhere but on this machine: on plain
		// http, codes, tokens and the session cookie (which no browser
		// can keep to one port, nor bind to the host without https)
		// cross the network in the clear.
		if o.Issuer == "" {
			// The issuer is the default one: what to change is --addr or
			// a missing --issuer, which the operator did not give.
			given := o.Addr
			if given == "" {
				given = addr
			}
			return nil, fmt.Errorf("--addr %s is not a loopback address, so the issuer cannot be the default http://ADDR: give --issuer with the tenant's public https URL", given)
		}
		return nil, fmt.Errorf("--issuer %q must be https: plain http is for a loopback address (development) only", issuer)
	}
	if u, _ := url.Parse(issuer); !servablePath(u) {
		return nil, fmt.Errorf("--issuer %q: its path must be plain segments (no empty or dot segment, nothing escaped, no braces)", issuer)
	}
	st, err := OpenStore(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	ks, err := openKeys(ctx, st, o.Store, &keys.Options{Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{Store: st, Keys: ks, Issuer: issuer, log: log, registry: prometheus.NewRegistry(), getenv: o.Getenv}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	s.mountOps(mux)
	if err := s.mountDomains(ctx, mux, o); err != nil {
		s.Close()
		return nil, err
	}
	s.Handler = withRequestID(withNoSniff(observe(log, newHTTPMetrics(s.registry), mux)))
	return s, nil
}

// issuerPath is the issuer's path without a trailing slash: "" for an
// issuer at its host's root.
func (s *Server) issuerPath() string {
	u, err := url.Parse(s.Issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// mountOps mounts health and readiness under the issuer, where a reverse
// proxy sends what is the tenant's (DESIGN.md's URLs), and also at the
// host's root for an issuer with a path: a probe of the process itself
// knows no tenant.
func (s *Server) mountOps(mux *http.ServeMux) {
	for _, at := range slices.Compact([]string{s.issuerPath(), ""}) {
		mux.HandleFunc("GET "+at+"/healthz", s.healthz)
		mux.HandleFunc("GET "+at+"/readyz", s.readyz)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// readyz answers ready when the store answers and takes writes: a replica
// whose database answers reads but refuses writes (its disk full, its
// connection's address taken over by a read-only standby) refuses every
// call and sign-in, as the audit trail takes no record, and is better out
// of its load balancer's rotation.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Store.Ping(ctx); err != nil {
		s.log.ErrorContext(r.Context(), "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "store unreachable\n")
		return
	}
	if err := s.writeProbe(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "readiness check failed: the store refuses writes", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "store refuses writes\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// probeEvery is how long a write probe's outcome stands: /readyz answers
// anyone, and a write per request would be theirs to multiply.
// probeTimeout bounds the write.
const (
	probeEvery   = time.Second
	probeTimeout = 2 * time.Second
)

// writeProbe commits a small write, at most once per probeEvery (the
// outcome is reused meanwhile), and returns its error: a single-use marker
// of its own kind, expiring a minute later, which the background's purge
// of expired markers removes.
func (s *Server) writeProbe(ctx context.Context) error {
	s.probe.mu.Lock()
	defer s.probe.mu.Unlock()
	if !s.probe.at.IsZero() && time.Since(s.probe.at) < probeEvery {
		return s.probe.err
	}
	// The outcome is the store's answer to every caller for probeEvery,
	// so the write is not ended by the caller that happens to make it:
	// one hanging up while it waits for its turn to write would have the
	// next callers told the store refuses writes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	now := time.Now()
	_, err := s.Store.Consume(ctx, "readiness", slip.NewID(), now.Add(time.Minute))
	s.probe.at, s.probe.err = time.Now(), err
	return err
}

// metricsInFlight bounds the scrapes one /metrics serves at once; past
// it promhttp answers 503 at once. Each scrape reads the audit head from
// the store, and --metrics-addr asks no token: whoever reaches it would
// otherwise start as many as they liked. A few is room for a pair of
// scrapers and a person with curl.
const metricsInFlight = 4

// metricsHandler serves the registry's metrics. Each call's handler has
// its own bound (metricsInFlight): a flood at --metrics-addr does not
// turn away the admins at the issuer.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{MaxRequestsInFlight: metricsInFlight})
}

// background runs the server's periodic work every interval until ctx
// ends: it reloads keys another replica rotated, drops the private half of
// those whose publication ended, applies the retention and the federation
// connections 'apply' (or 'role remove') set, and forgets expired
// single-use markers.
func (s *Server) background(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// No baseline is taken at start: the first tick reloads whatever the
	// revision, or a change made between New's loading and that tick (a
	// 'keys rotate' right after 'serve') would wait for another change.
	var rev int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rev = s.tick(ctx, rev)
	}
}

// tick is one round of background: rev is the tenant's revision last
// loaded (-1: none), and it returns the one loaded now.
func (s *Server) tick(ctx context.Context, rev int64) int64 {
	r, err := s.Store.Revision(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("read the tenant's revision", "err", err)
	}
	if err == nil && r != rev {
		// What failed to load is tried again at the next tick, not at
		// the next change: a replica that missed a rotation's new keys
		// would sign with retired ones past the switch.
		ok := true
		if err := s.Keys.Load(ctx); err != nil {
			s.log.Error("reload signing keys", "err", err)
			ok = false
		}
		if d, err := s.retention(ctx); errors.Is(err, errRetentionUnsealed) {
			// Said once a change of the tenant, not at every tick:
			// reading again finds the same until an apply.
			s.log.Error("audit retention not applied", "err", err)
			if s.Audit != nil {
				s.Audit.SetRetention(0)
			}
		} else if err != nil {
			s.log.Error("read audit retention", "err", err)
			ok = false
		} else if s.Audit != nil {
			s.Audit.SetRetention(d)
		}
		if err := s.reloadConnections(ctx); err != nil {
			s.log.Error("reload federation connections", "err", err)
			ok = false
		}
		if ok {
			rev = r
		}
	}
	// A retired key leaves the JWKS when its publication ends, which
	// changes nothing in the store: the reload above does not happen for
	// it on an idle tenant, and its private half would stay stored until
	// the next change. Without expired keys to archive this neither reads
	// nor writes the store; when it writes, the revision moves and the
	// next tick reloads, harmlessly.
	if _, err := s.Keys.ArchiveExpired(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("archive expired signing keys", "err", err)
	}
	if _, err := s.Store.PurgeConsumed(ctx, time.Now()); err != nil && ctx.Err() == nil {
		s.log.Error("purge single-use markers", "err", err)
	}
	if s.Identity != nil {
		if err := s.Identity.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("purge expired identity records", "err", err)
		}
	}
	return rev
}

// Close releases what New opened. Its error says what could not be closed
// properly: the audit trail's last records or checkpoint not stored, the
// store not closed cleanly.
func (s *Server) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	errs = append(errs, s.Store.Close())
	return errors.Join(errs...)
}

// Run listens on o.Addr and serves until ctx ends, then stops accepting,
// lets in-flight requests finish (up to ShutdownTimeout) and closes; a
// failure to close is returned too.
func Run(ctx context.Context, o Options) (err error) {
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.MetricsListener == nil && o.MetricsAddr != "" {
		// Bound before anything is opened or started, as the public
		// address is: a taken address stops the start with nothing to
		// undo.
		if o.MetricsListener, err = ListenMetrics(o.MetricsAddr); err != nil {
			return err
		}
		defer o.MetricsListener.Close()
	}
	s, err := New(ctx, o, ln.Addr().String())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	return s.Serve(ctx, ln, o)
}

// Listen opens the listening socket, with a clear message when the address
// is taken.
func Listen(addr string) (net.Listener, error) { return listen("--addr", addr) }

// loopback reports whether a is a loopback address, or no network's at
// all (a Unix socket).
func loopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.Network() != "tcp" && a.Network() != "udp"
	}
	return ap.Addr().Unmap().IsLoopback()
}

// ListenMetrics opens the operators' socket for /metrics
// (Options.MetricsListener), its messages naming --metrics-addr.
func ListenMetrics(addr string) (net.Listener, error) {
	ln, err := listen("--metrics-addr", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return ln, nil
}

// listen opens a listening socket for the address flag names.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("address %s is already in use: is another Gatehouse (or something else) running there? Choose another with %s", addr, flag)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener, o Options) error {
	bg, stop := context.WithCancel(context.Background())
	defer stop()
	interval := o.BackgroundInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	go s.background(bg, interval)
	srv := &http.Server{
		Handler:           withBodyDeadline(cmp.Or(o.BodyReadTimeout, 30*time.Second), s.Handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return bg },
	}
	errc := make(chan error, 2)
	mln := o.MetricsListener
	if mln == nil && o.MetricsAddr != "" {
		var err error
		if mln, err = ListenMetrics(o.MetricsAddr); err != nil {
			return err
		}
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metricsHandler())
		// A scrape has no body and a bounded answer: the whole request
		// gets the public server's body time and the answer 30 s, so a
		// client that stalls holds no connection open for good.
		msrv := &http.Server{Handler: withNoSniff(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ReadTimeout: cmp.Or(o.BodyReadTimeout, 30*time.Second), WriteTimeout: 30 * time.Second,
			ErrorLog: srv.ErrorLog, BaseContext: srv.BaseContext}
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
		if loopback(mln.Addr()) {
			s.log.Info("metrics serving", "addr", mln.Addr().String())
		} else {
			// Allowed (an operators' network, a container's interfaces
			// a scraper reaches), but said: whoever reaches it reads
			// them, and ":9090" means every interface, the public one
			// too, which an operator who meant loopback would not see.
			s.log.Warn("metrics serving without a token at a non-loopback address: whoever reaches it reads them "+
				"(each upstream and its callers' sessions, the audit streams); keep it to an operators' network",
				"addr", mln.Addr().String())
		}
	} else {
		s.log.Info("metrics at /metrics for the admins only: --metrics-addr serves them without a token at an operators' address")
	}
	if s.Gateway != nil {
		// Shutdown waits for the requests in flight: the MCP streams that
		// stay open while their clients listen are ended, not waited for.
		srv.RegisterOnShutdown(s.Gateway.EndStreams)
	}
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("gatehouse serving", "addr", ln.Addr().String(), "issuer", s.Issuer, "store", s.Store.Dialect())
	if o.OnListen != nil {
		o.OnListen(ln.Addr().String())
	}
	select {
	case err := <-errc:
		srv.Close() // the metrics server failed, or the public one did
		return err
	case <-ctx.Done():
	}
	timeout := o.ShutdownTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	s.log.Info("shutting down: finishing in-flight requests", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hurried := make(chan struct{})
	if o.Hurry != nil {
		go func() {
			select {
			case <-o.Hurry:
				s.log.Warn("shutdown cut short: ending the requests in flight")
				close(hurried)
				cancel()
			case <-sctx.Done():
			}
		}()
	}
	if err := srv.Shutdown(sctx); err != nil {
		// The requests still running lose their connections and their
		// contexts end, so that they stop before the caller closes the
		// audit trail and the store under them.
		srv.Close()
		stop()
		select {
		case <-hurried:
			return errors.New("shutdown cut short: requests still in flight were ended")
		default:
		}
		return fmt.Errorf("shutdown: requests still in flight after %s were ended: %w", timeout, err)
	}
	return nil
}

// servablePath reports whether the endpoints can be served under u's path
// at the addresses announced: a router cleans an unclean path (an empty
// or dot segment) and redirects away from it, matches an escaped one
// (%2F) unescaped, and takes braces for a wildcard, which would serve the
// tenant under every name. Mounting such a path would panic, or serve
// nothing where discovery points.
func servablePath(u *url.URL) bool {
	p := u.Path
	return p == "" || (path.Clean(p) == p && u.EscapedPath() == p && !strings.ContainsAny(p, "{}"))
}

// loopbackHost reports whether host names this machine: localhost, or a
// loopback IP address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
