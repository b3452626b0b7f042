// Command traffic drives production requests at the cart service until errors are reported
// through sentry-go (Debian's package, GOPATH mode). Not part of the service's repository: it
// stands for production traffic.
//
//	SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 GO111MODULE=off \
//	  GOPATH=<dir whose src/example.com/carts is the repository>:/usr/share/gocode \
//	  go run traffic.go [-min-errors 6]
//
// It serves the handler in-process behind a recover middleware that reports each panic (as a
// team wires sentry-go into net/http), with the saved carts of returning shoppers — some saved
// by the old mobile app, which wrote "items": null or left the field out — and stops once
// -min-errors requests failed with a server error.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"example.com/carts/api"
	"github.com/getsentry/sentry-go"
)

func report(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub := sentry.CurrentHub().Clone()
		hub.Scope().SetRequest(r)
		hub.Scope().SetTransaction("POST /items")
		hub.Scope().SetUser(sentry.User{ID: r.Header.Get("X-User")})
		defer func() {
			if err := recover(); err != nil {
				hub.RecoverWithContext(r.Context(), err)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func savedCarts() map[string][]byte {
	saved := map[string][]byte{}
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("cart-%d", i)
		switch i % 5 {
		case 1:
			saved[id] = []byte(fmt.Sprintf(`{"id":%q,"items":null}`, id)) // old mobile app
		case 3:
			saved[id] = []byte(fmt.Sprintf(`{"id":%q}`, id)) // old mobile app, empty cart
		default:
			saved[id] = []byte(fmt.Sprintf(`{"id":%q,"items":{"tea":%d}}`, id, 1+i%3))
		}
	}
	return saved
}

func main() {
	minErrors := flag.Int("min-errors", 6, "exit 1 unless this many requests failed")
	flag.Parse()
	env := os.Getenv("SENTRY_ENVIRONMENT")
	if env == "" {
		env = "production"
	}
	err := sentry.Init(sentry.ClientOptions{Dsn: os.Getenv("SENTRY_DSN"), Environment: env, Release: "carts@1.8.0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sentry:", err)
		os.Exit(1)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(listener, report(api.NewHandler(api.NewStore(savedCarts())))) }()
	base := "http://" + listener.Addr().String()

	failed := 0
	for i := 0; i < 40; i++ {
		url := fmt.Sprintf("%s/items?cart=cart-%d&sku=%s&qty=%d", base, i%34, []string{"jam", "tea", "oats"}[i%3], 1+i%2)
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("X-User", fmt.Sprintf("shopper-%d", i%34))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 500 {
			failed++
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	sentry.Flush(10 * time.Second)
	fmt.Printf("%d failed requests reported\n", failed)
	if failed < *minErrors {
		os.Exit(1)
	}
}
