package billing

import (
	"errors"
	"testing"
)

func oracleDirectory() *Directory {
	return NewDirectory(Customer{ID: "k1", Email: "ap@kite.example"}, Customer{ID: "k2", Email: "finance@kite.example"})
}

func TestOracleRecipientOfAnErasedAccountIsNotFound(t *testing.T) {
	dir := oracleDirectory()
	dir.Erase("k2")
	to, err := Recipient(dir, "k2")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Recipient(erased) = %q, %v; want an error wrapping ErrNotFound", to, err)
	}
}

func TestOracleAnInvoiceForAnUnknownAccountIsRefused(t *testing.T) {
	mail, err := Prepare(oracleDirectory(), Invoice{Account: "nobody", Month: "2026-11", AmountCents: 990})
	if err == nil || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Prepare(unknown) = %+v, %v; want an error wrapping ErrNotFound", mail, err)
	}
}

func TestOracleNoMailIsPreparedWithoutAnAddress(t *testing.T) {
	dir := oracleDirectory()
	dir.Erase("k1")
	if mail, err := Prepare(dir, Invoice{Account: "k1", Month: "2026-11", AmountCents: 1}); err == nil {
		t.Fatalf("Prepare(erased) gave mail %+v and no error", mail)
	}
}

func TestOracleKnownAccountsAreMailedAsBefore(t *testing.T) {
	mail, err := Prepare(oracleDirectory(), Invoice{Account: "k2", Month: "2026-10", AmountCents: 4205})
	if err != nil || mail.To != "finance@kite.example" || mail.Subject != "Your invoice for 2026-10: 42.05 EUR" {
		t.Fatalf("Prepare(k2) = %+v, %v", mail, err)
	}
}
