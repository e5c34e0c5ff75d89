package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// upstreamCollector exposes each upstream's state on this replica, so an
// upstream that is down or keeps restarting shows in /metrics, and how far
// the replica's catalogue is behind the store. An upstream's last error is
// not a metric: it may name hosts.
type upstreamCollector struct {
	gw                                         *gateway.Gateway
	connected, restarts, lanes, tool, withheld *prometheus.Desc
	lag                                        *prometheus.Desc
}

func newUpstreamCollector(gw *gateway.Gateway) *upstreamCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_upstream_"+name, help, []string{"upstream"}, nil)
	}
	return &upstreamCollector{gw: gw,
		connected: d("connected", "1 when the gateway's own session with the upstream is up."),
		restarts:  d("restarts_total", "Times the gateway connected to the upstream again after losing it."),
		lanes:     d("caller_sessions", "Callers' own sessions with the upstream, open or opening (for a per_caller stdio upstream, its processes besides the gateway's own)."),
		tool:      d("tools", "Tools the upstream serves."),
		withheld: d("withheld", "Tools, prompts and resource templates of the upstream awaiting an admin's approval: new, or changed since approved "+
			"(a rug pull shows here: alert on it); prompts and templates as this replica's connection serves them."),
		lag: prometheus.NewDesc("gatehouse_catalogue_lag_seconds", "How long the tenant in the store has been ahead of what this replica "+
			"decides tool calls on (its reloads failing, or the store unreadable); 0 when current. Access taken away stands here as long: alert "+
			"when it stays above a few seconds.", nil, nil),
	}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.restarts, c.lanes, c.tool, c.withheld, c.lag} {
		ch <- d
	}
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, c.gw.CatalogueLag().Seconds())
	for _, u := range c.gw.Upstreams() {
		up := 0.0
		if u.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, up, u.Name)
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(u.Restarts), u.Name)
		ch <- prometheus.MustNewConstMetric(c.lanes, prometheus.GaugeValue, float64(u.Lanes), u.Name)
		ch <- prometheus.MustNewConstMetric(c.tool, prometheus.GaugeValue, float64(len(u.Tools)), u.Name)
		ch <- prometheus.MustNewConstMetric(c.withheld, prometheus.GaugeValue, float64(u.Withheld), u.Name)
	}
}
