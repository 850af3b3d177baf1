package portaltest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumEnv names the variable that points at the Chromium binary.
const ChromiumEnv = "PORTAL_TEST_CHROMIUM"

// chromiumPath finds Debian's Chromium, or the binary named by ChromiumEnv.
func chromiumPath() string {
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts a headless Chromium for tb and returns a chromedp context
// for one tab. Without Chromium the test is skipped (failed when
// PORTAL_TEST_REQUIRE_ALL is set, as in CI).
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	path := chromiumPath()
	if path == "" {
		msg := "browser suite skipped: install Debian's chromium (apt-get install chromium) or set " + ChromiumEnv
		if os.Getenv("PORTAL_TEST_REQUIRE_ALL") != "" {
			tb.Fatal(msg + " (PORTAL_TEST_REQUIRE_ALL is set, so skipping is a failure)")
		}
		tb.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first call starts the browser and must have no deadline; later
	// calls get one through the returned context.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium at %s: %v", path, err)
	}
	tctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	tb.Cleanup(cancelTime)
	return tctx
}

// NewTab opens another tab (with its own cookies) in the browser of ctx.
func NewTab(tb testing.TB, ctx context.Context) context.Context {
	tb.Helper()
	tctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	if err := chromedp.Do(tctx); err != nil {
		tb.Fatal(err)
	}
	return tctx
}
