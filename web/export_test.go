package web

import "time"

// BrandCSS exposes the brand stylesheet to the tests of package web_test.
var BrandCSS = brandCSS

// SetEventSettle changes how far behind now the event log is read forward.
func (s *Server) SetEventSettle(d time.Duration) { s.settleOverride.Store(&d) }
