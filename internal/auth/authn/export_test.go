package authn

import "time"

// SetClock makes a tell the time by now.
func SetClock(a *X509, now func() time.Time) { a.now = now }

// SetBootstrapClock makes a tell the time by now.
func SetBootstrapClock(a *BootstrapTokens, now func() time.Time) { a.now = now }
