// Command traffic drives production-like requests at the inventory service until errors are
// reported through sentry-go (Debian's package, GOPATH mode). Not part of the service's
// repository (demo_env.NOT_IN_REPO): it stands for production traffic.
//
//	SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 GO111MODULE=off \
//	  GOPATH=<dir whose src/example.com/inventory is the repository>:/usr/share/gocode \
//	  go run traffic.go [-min-errors 5] [-concurrency 8] [-max-rounds 10]
//
// It starts the service's handler in-process on a free port behind a recover middleware that
// reports each panic (as a team wires sentry-go into net/http), asks for the top sellers with
// growing counts, and stops once -min-errors requests failed with a server error.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"example.com/inventory/api"
	"example.com/inventory/stock"
	"github.com/getsentry/sentry-go"
)

func report(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub := sentry.CurrentHub().Clone()
		hub.Scope().SetRequest(r)
		hub.Scope().SetTransaction(r.Method + " " + r.URL.Path)
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

func main() {
	minErrors := flag.Int("min-errors", 5, "stop once this many requests failed")
	concurrency := flag.Int("concurrency", 8, "requests per round")
	maxRounds := flag.Int("max-rounds", 10, "give up after this many rounds")
	flag.Parse()

	reporting := os.Getenv("SENTRY_DSN") != ""
	if reporting {
		env := os.Getenv("SENTRY_ENVIRONMENT")
		if env == "" {
			env = "production"
		}
		err := sentry.Init(sentry.ClientOptions{Dsn: os.Getenv("SENTRY_DSN"), Environment: env, Release: "inventory@0.9.1"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "sentry:", err)
			os.Exit(1)
		}
	}
	inv := stock.New(stock.Item{SKU: "coffee", OnHand: 40}, stock.Item{SKU: "bread", OnHand: 25}, stock.Item{SKU: "milk", OnHand: 30})
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(listener, report(api.NewHandler(inv))) }()
	base := "http://" + listener.Addr().String()

	errors := 0
	for round := 1; round <= *maxRounds && errors < *minErrors; round++ {
		var mu sync.Mutex
		var wg sync.WaitGroup
		failed := 0
		for i := 0; i < *concurrency; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_ = inv.Reserve([]string{"coffee", "bread", "milk"}[i%3], 1)
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/top?n=%d", base, 1+i%5), nil)
				req.Header.Set("X-User", fmt.Sprintf("user-%d", i))
				resp, err := http.DefaultClient.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || resp.StatusCode >= 500 {
					failed++
				}
				if resp != nil {
					resp.Body.Close()
				}
			}(i)
		}
		wg.Wait()
		errors += failed
		fmt.Printf("round %d: %d concurrent requests, %d failed (total errors %d)\n", round, *concurrency, failed, errors)
	}
	if reporting {
		sentry.Flush(10 * time.Second)
	}
	if errors < *minErrors {
		fmt.Fprintf(os.Stderr, "only %d errors after %d rounds\n", errors, *maxRounds)
		os.Exit(1)
	}
}
