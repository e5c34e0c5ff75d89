package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
)

// mountDomains builds the audit trail, the identity provider, the slip
// minter and the MCP gateway from their narrow dependencies and mounts
// their routes.
func (s *Server) mountDomains(ctx context.Context, mux *http.ServeMux, o Options) error {
	retention, err := s.retention(ctx)
	if errors.Is(err, errRetentionUnsealed) {
		s.log.Error("audit retention not applied", "err", err)
	} else if err != nil {
		return err
	}
	// The retention is set once the streams are open: the log prunes as
	// soon as it has one, and must first know what the streams have not
	// delivered yet.
	trail := audit.New(s.Store, s.Keys, &audit.Options{Logger: s.log})
	s.Audit = trail
	s.closers = append(s.closers, trail.Close)
	streams, err := openStreams(trail, o.Streams, s.log)
	if err != nil {
		return err
	}
	trail.SetRetention(retention)
	if streams != nil {
		// Streams close before the trail (closers run last first).
		s.closers = append(s.closers, func() error { streams.Close(); return nil })
	}
	s.registry.MustRegister(newAuditCollector(trail, streams))

	slips := &slip.Minter{Issuer: s.Issuer, Keys: s.Keys, Store: s.Store, Audit: trail, Origin: trail.SlipOrigin}
	cfg, conns, err := s.connections(ctx)
	if err != nil {
		return err
	}
	s.connsLoaded = cfg
	// Tokens for the admin API are asked for by its resource URI.
	adminAPI := strings.TrimSuffix(s.Issuer, "/") + admin.Path
	idp := &identity.Provider{
		Connections:               conns,
		StoredRoles:               storedRoles,
		Issuer:                    s.Issuer,
		Store:                     s.Store,
		Keys:                      s.Keys,
		Audit:                     trail,
		Logger:                    s.log,
		Introspect:                slips.Introspect,
		TrustedProxies:            o.TrustedProxies,
		AllowPrivateMetadataHosts: o.AllowPrivateMetadataHosts,
		Resources:                 []string{adminAPI},
		SoleResources:             []string{adminAPI},
		ResourceText: map[string]string{adminAPI: "use the Gatehouse admin API as you: " +
			"with the admin role, read everyone's audit trail (sign-ins, tokens, every AI tool call)"},
		// tool:<name> scopes (step-up at /mcp) name tools of the catalogue.
	}
	if err := idp.Check(); err != nil {
		return err
	}
	idp.Mount(mux)
	s.Identity = idp

	gw := &gateway.Gateway{
		Resource:       s.Issuer + "/mcp",
		Issuer:         s.Issuer,
		Store:          s.Store,
		Keys:           s.Keys,
		Slips:          slips,
		Audit:          trail,
		Logger:         s.log,
		AllowedOrigins: o.AllowedOrigins,
		ClientAddr:     idp.ClientAddr,
	}
	gw.Mount(mux)
	s.registry.MustRegister(newUpstreamCollector(gw))
	if err := gw.Start(ctx); err != nil {
		return fmt.Errorf("start the MCP gateway: %w", err)
	}
	s.Gateway = gw
	s.closers = append(s.closers, gw.Close)

	api := &admin.API{Issuer: s.Issuer, Keys: s.Keys, Store: s.Store, Audit: trail, Logger: s.log, Standing: idp.Standing,
		ClientAddr: idp.ClientAddr, CountRefusal: idp.CountRefusal}
	if streams != nil {
		api.Streams = streams.Stats
	}
	api.Mount(mux)
	// /metrics is at the issuer (DESIGN.md's URLs) for the admins only:
	// the metrics name every upstream and how many callers use each. A
	// scraper without a person's token reads them at --metrics-addr.
	mux.Handle("GET "+s.issuerPath()+"/metrics", api.Guard(s.metricsHandler()))
	return nil
}

// connections builds the tenant's federation connections, each secret
// read from the environment variable the tenant file names, and returns
// them with the stored configuration they were built from.
func (s *Server) connections(ctx context.Context) ([]config.Connection, []*identity.Connection, error) {
	cs, err := config.Connections(ctx, s.Store)
	if err != nil {
		return nil, nil, err
	}
	getenv := s.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var out []*identity.Connection
	for _, c := range cs {
		ic := &identity.Connection{Name: c.Name, DisplayName: c.DisplayName, Issuer: c.Issuer, ClientID: c.ClientID,
			Scopes: c.Scopes, UsernameClaim: c.UsernameClaim, RolesClaim: c.RolesClaim, RoleMap: c.RoleMap,
			DefaultRoles: c.DefaultRoles}
		if c.ClientSecretEnv != "" {
			// Stored configuration: names accepted before CheckUpstreamEnv
			// asked for upper-case still work, and no error repeats the
			// name (a secret may have been stored as one).
			if msg := store.CheckStoredUpstreamEnv(c.ClientSecretEnv); msg != "" {
				return nil, nil, fmt.Errorf("connection %s: client_secret_env: %s", c.Name, msg)
			}
			ic.ClientSecret = getenv(c.ClientSecretEnv)
			if ic.ClientSecret == "" {
				return nil, nil, fmt.Errorf("connection %s: client_secret_env: the environment variable (its client secret) is empty", c.Name)
			}
		}
		out = append(out, ic)
	}
	return cs, out, nil
}

// storedRoles reads how the named connection gives roles as the tenant
// stores it now (identity.Provider.StoredRoles): a role removed, and even
// created again, reaches a sign-in at once, whether or not this process
// has reloaded its connections since (reloadConnections).
func storedRoles(ctx context.Context, tx store.Tenant, name string) (*identity.ConnectionRoles, error) {
	cs, err := config.Connections(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Name == name {
			return &identity.ConnectionRoles{RolesClaim: c.RolesClaim, RoleMap: c.RoleMap, DefaultRoles: c.DefaultRoles}, nil
		}
	}
	return nil, nil
}

// reloadConnections hands the identity provider the tenant's federation
// connections as stored now, changed by a tenant file applied or a role
// removed (on any host): a sign-in must not go on mapping a role removed
// to whoever the upstream puts in a group until the next restart, nor
// give it to them again once a role of that name is created. When they
// cannot be built (a new connection whose secret's variable is empty in
// this process), the ones in use stay and the error is returned.
func (s *Server) reloadConnections(ctx context.Context) error {
	if s.Identity == nil {
		return nil
	}
	cfg, conns, err := s.connections(ctx)
	if err != nil {
		return err
	}
	if err := s.Identity.SetConnections(conns); err != nil {
		return err
	}
	if !reflect.DeepEqual(cfg, s.connsLoaded) {
		names := make([]string, 0, len(cfg))
		for _, c := range cfg {
			names = append(names, c.Name)
		}
		s.log.Info("federation connections reloaded", "connections", names)
		s.connsLoaded = cfg
	}
	return nil
}

// retention reads the tenant's audit retention setting. A retention is
// applied only when its seal (config.SettingRetentionSeal, made by
// `gatehouse apply` under the master key) opens to it: whoever can write
// the database but not read the master key must not be able to have the
// history pruned under a signed prune checkpoint. An unsealed one is
// errRetentionUnsealed, with no retention.
func (s *Server) retention(ctx context.Context) (time.Duration, error) {
	v, err := s.Store.Setting(ctx, "audit.retention")
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil // none set: keep everything
	case err != nil:
		// Not "none set": the caller keeps what it has and tries again.
		return 0, err
	case v == "":
		return 0, nil
	}
	seal, err := s.Store.Setting(ctx, config.SettingRetentionSeal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if s.Keys == nil || !s.Keys.OpenSetting("audit.retention", v, seal) {
		return 0, errRetentionUnsealed
	}
	return config.Retention(v), nil
}

// errRetentionUnsealed: the stored retention is not the one a tenant file
// applied with this master key set (written to the database directly, or
// by a version that did not seal it). Nothing is pruned until an apply
// sets it again.
var errRetentionUnsealed = errors.New("the audit retention in the database was not set by `gatehouse apply` with this data folder's master key " +
	"(written to the database directly?): it is not applied, and no record is pruned, until a tenant file sets it again")
