package identity

// Design note: refusals the trail records, bounded per address.
//
// A refusal is evidence, so the trail keeps it; but each record is a
// commit of the hash chain and a row on disk, and some refusals cost the
// caller nothing: a token exchange asked by a public client needs no
// secret (its client ID is public, or self-registered in a moment), a used
// code or refresh token can be replayed as often as one likes. Recorded
// one for one, such refusals would let anyone grow the trail without end
// and crowd out everyone else's commits.
//
// So the refusals recordRefusal takes are counted per address (an IPv6
// address by its /64, throttleKey), in the database so that the bound
// holds across replicas, in the login throttle's window and under its
// address bound (MaxFailuresPerIP, ThrottleWindow), as failed client
// authentications are: an address that refuses that often is flooding,
// not mistaken. Within the bound each refusal is recorded as before. The
// one that goes past it is recorded marked "throttled" (the summary: from
// here on, this address's refusals are not recorded in this window) and
// answered 429 temporarily_unavailable, as are all further ones, which
// write nothing (countUnlessPast: past the bound a read, not a commit).
// Only refusals are counted: a request that is let through from the same
// address (a NAT's other users) is answered and recorded as ever.

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// refusalsKey is the counter of an address's recorded refusals.
func (p *Provider) refusalsKey(r *http.Request) string {
	return "refused:ip:" + throttleKey(p.clientIP(r))
}

// CountRefusal counts a refusal of request r that the trail is to record
// against the bound of r's address (see the design note above; the admin
// API's refusals share it), and says how to record it: record is false
// past the bound (answer 429 and write nothing); throttled is true for the
// refusal that went past it (record it marked "throttled", and answer
// 429). A count that cannot be taken leaves the refusal recorded: the
// trail is the evidence, and a store that cannot count will most likely
// refuse the record too.
func (p *Provider) CountRefusal(ctx context.Context, r *http.Request) (record, throttled bool) {
	limit := orDefault(p.MaxFailuresPerIP, 100)
	n, err := p.countUnlessPast(ctx, p.refusalsKey(r), limit, p.window())
	switch {
	case err != nil:
		p.log().WarnContext(ctx, "count a refusal", "err", err)
		return true, false
	case n > limit+1:
		return false, false
	}
	return true, n == limit+1
}

// throttledDetail is detail with the marks of the refusal that reached
// its address's bound (CountRefusal), a copy: from here on, in this
// window, the address's refusals are answered 429 and not recorded.
func (p *Provider) throttledDetail(detail map[string]any) map[string]any {
	d := make(map[string]any, len(detail)+3)
	for k, v := range detail {
		d[k] = v
	}
	d["throttled"], d["refusals_address"], d["window"] = true, orDefault(p.MaxFailuresPerIP, 100), p.window().String()
	return d
}

// recordRefusal records the refusal ev of request r within its address's
// bound (CountRefusal), and returns nil: the caller answers its refusal as
// it would. Past the bound it returns the 429 to answer instead, having
// recorded ev (marked throttled) only if it is the refusal that went past.
func (p *Provider) recordRefusal(ctx context.Context, r *http.Request, ev audit.Event) *Error {
	record, throttled := p.CountRefusal(ctx, r)
	if !record {
		return errTooManyRefusals()
	}
	if throttled {
		ev.Detail = p.throttledDetail(ev.Detail)
	}
	_ = p.record(ctx, ev) // a refusal lets nothing through: logged if unrecorded
	if throttled {
		return errTooManyRefusals()
	}
	return nil
}

// errTooManyRefusals answers a request from an address past its bound of
// recorded refusals (429, Retry-After).
func errTooManyRefusals() *Error {
	return errTemporarilyUnavailable("too many refused requests from this address; try again later")
}
