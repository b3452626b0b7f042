// Command traffic runs the monthly invoice mailing the way production does, reporting each
// failed invoice through sentry-go (Debian's package, GOPATH mode). Not part of the service's
// repository: it stands for production.
//
//	SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 GO111MODULE=off \
//	  GOPATH=<dir whose src/example.com/billing is the repository>:/usr/share/gocode \
//	  go run traffic.go [-min-errors 6]
//
// One worker per invoice, each behind a recover that reports a panic (as a team wires
// sentry-go into its job runner); an invoice Prepare refuses is reported as an error too. Some
// accounts were closed and erased during the month; their invoices are still in the run.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"example.com/billing/billing"
	"github.com/getsentry/sentry-go"
)

func main() {
	minErrors := flag.Int("min-errors", 6, "exit 1 unless this many invoices failed")
	flag.Parse()
	env := os.Getenv("SENTRY_ENVIRONMENT")
	if env == "" {
		env = "production"
	}
	err := sentry.Init(sentry.ClientOptions{Dsn: os.Getenv("SENTRY_DSN"), Environment: env, Release: "billing@5.2.1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sentry:", err)
		os.Exit(1)
	}
	var customers []billing.Customer
	for i := 0; i < 40; i++ {
		customers = append(customers, billing.Customer{ID: fmt.Sprintf("acct-%d", i), Email: fmt.Sprintf("ap%d@example.com", i)})
	}
	dir := billing.NewDirectory(customers...)
	for i := 3; i < 40; i += 5 {
		dir.Erase(fmt.Sprintf("acct-%d", i)) // closed this month
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			hub := sentry.CurrentHub().Clone()
			hub.Scope().SetTransaction("job monthly-invoices")
			hub.Scope().SetTag("account", fmt.Sprintf("acct-%d", i))
			defer func() {
				if r := recover(); r != nil {
					hub.Recover(r)
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}()
			inv := billing.Invoice{Account: fmt.Sprintf("acct-%d", i), Month: "2026-11", AmountCents: int64(1000 + 37*i)}
			if _, err := billing.Prepare(dir, inv); err != nil {
				hub.CaptureException(err)
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	sentry.Flush(10 * time.Second)
	fmt.Printf("%d invoices failed and were reported\n", failed)
	if failed < *minErrors {
		os.Exit(1)
	}
}
