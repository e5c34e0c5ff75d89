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

// recordRefusal records the refusal ev of request r within its address's
// bound, and returns nil: the caller answers its refusal as it would. Past
// the bound it returns the 429 to answer instead, having recorded ev
// (marked throttled) only if it is the refusal that went past. A count
// that cannot be taken leaves the refusal recorded (the trail is the
// evidence; if the store is down it will most likely refuse it too).
func (p *Provider) recordRefusal(ctx context.Context, r *http.Request, ev audit.Event) *Error {
	limit, win := orDefault(p.MaxFailuresPerIP, 100), p.window()
	n, err := p.countUnlessPast(ctx, p.refusalsKey(r), limit, win)
	if err != nil {
		p.log().WarnContext(ctx, "count a refusal", "err", err)
		n = 0
	}
	if n > limit+1 {
		return errTooManyRefusals()
	}
	if n == limit+1 {
		detail := make(map[string]any, len(ev.Detail)+3)
		for k, v := range ev.Detail {
			detail[k] = v
		}
		detail["throttled"], detail["refusals_address"], detail["window"] = true, limit, win.String()
		ev.Detail = detail
	}
	_ = p.record(ctx, ev) // a refusal lets nothing through: logged if unrecorded
	if n == limit+1 {
		return errTooManyRefusals()
	}
	return nil
}

// errTooManyRefusals answers a request from an address past its bound of
// recorded refusals (429, Retry-After).
func errTooManyRefusals() *Error {
	return errTemporarilyUnavailable("too many refused requests from this address; try again later")
}
