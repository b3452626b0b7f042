package billing

import "testing"

func sample() *Directory {
	return NewDirectory(Customer{ID: "a1", Email: "ap@acme.example"}, Customer{ID: "b2", Email: "billing@bolt.example"})
}

func TestRecipientIsTheBillingContact(t *testing.T) {
	to, err := Recipient(sample(), "b2")
	if err != nil || to != "billing@bolt.example" {
		t.Fatalf("Recipient(b2) = %q, %v", to, err)
	}
}

func TestPrepareWritesTheSubject(t *testing.T) {
	mail, err := Prepare(sample(), Invoice{Account: "a1", Month: "2026-11", AmountCents: 120050})
	if err != nil {
		t.Fatal(err)
	}
	if mail.To != "ap@acme.example" || mail.Subject != "Your invoice for 2026-11: 1200.50 EUR" {
		t.Fatalf("mail = %+v", mail)
	}
}

func TestEraseRemovesTheAccount(t *testing.T) {
	dir := sample()
	dir.Erase("a1")
	if _, err := dir.Find("a1"); err != ErrNotFound {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}
