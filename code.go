package portal

import (
	"context"
	"time"
)

// Purposes of a one-time code sent by email or WhatsApp.
const (
	CodeLogin = "login" // bound to a login attempt (the pending session)
	CodeEnrol = "enrol" // bound to a pending method
)

// Code is a one-time code sent to the user. Only a keyed hash of it is
// stored.
type Code struct {
	ID          string
	UserID      string
	Channel     string // MethodEmail or MethodWhatsApp
	Purpose     string
	Binding     string // the login attempt or the pending method
	Destination string // where it went (email address or E.164 phone)
	Hash        string
	Attempts    int
	CreatedAt   int64
	ExpiresAt   int64
	UsedAt      int64
}

// CodePolicy holds the rules of SPEC §6.
type CodePolicy struct {
	TTL         time.Duration // 10 minutes
	MaxGuesses  int           // 5 wrong guesses kill a code
	Resend      time.Duration // 60 s between codes for one purpose while one is outstanding
	PerHour     int           // codes per hour per account
	PerHourDest int           // codes per hour per destination and purpose (0: no limit)
}

// DefaultCodePolicy is SPEC §6 and §7.
var DefaultCodePolicy = CodePolicy{TTL: 10 * time.Minute, MaxGuesses: 5, Resend: time.Minute, PerHour: 10, PerHourDest: 10}

// CodeStore keeps one-time codes.
type CodeStore interface {
	// IssueCode stores c after checking, atomically for the account (and
	// destination), the resend delay and the hourly limits; it kills every
	// earlier live code of the user on the channel. A refusal is a
	// rate_limited error with the wait.
	IssueCode(ctx context.Context, c *Code, p CodePolicy) error
	// DeleteCode removes a code that could not be delivered, so nothing
	// claims it was sent and it does not count against the limits.
	DeleteCode(ctx context.Context, id string) error
	// LiveCode returns the newest usable code for the binding.
	LiveCode(ctx context.Context, userID, channel, purpose, binding string, now int64) (*Code, error)
	// UseCode marks a code used if it is still live and under the guess
	// limit: exactly one caller succeeds.
	UseCode(ctx context.Context, id string, now int64, maxGuesses int) (bool, error)
	// FailCode counts a wrong guess and returns the guesses so far.
	FailCode(ctx context.Context, id string) (int, error)
	// SupersededCodes lists the unused codes for the binding created since
	// since that a newer code replaced (to tell someone who typed one).
	SupersededCodes(ctx context.Context, userID, channel, purpose, binding string, since, now int64) ([]*Code, error)
}

// OutboxMessage is an email waiting in the durable outbox.
type OutboxMessage struct {
	ID      string
	To      string
	Subject string
	// Text and HTML are the bodies; when Sealed, as the mailer queues
	// them, each is ciphertext with ID bound, opened only at send time.
	// Delivery blanks them.
	Text      string
	HTML      string
	Sealed    bool
	Attempts  int
	CreatedAt int64
	NextAt    int64
	SentAt    int64
	LastError string
}

// OutboxStore keeps the outbox. Several workers (replicas) may claim at once;
// each message is leased to one of them.
type OutboxStore interface {
	Enqueue(ctx context.Context, m *OutboxMessage) error
	// ClaimOutbox leases up to n due messages to worker until leaseUntil.
	ClaimOutbox(ctx context.Context, worker string, n int, now, leaseUntil int64) ([]*OutboxMessage, error)
	// RenewOutbox extends the worker's lease of one message to until, just
	// before it is sent; false when the lease ran out (another worker may
	// have taken the message) or it was delivered.
	RenewOutbox(ctx context.Context, id, worker string, now, until int64) (bool, error)
	// MarkSent records a delivery by the worker holding the lease and
	// blanks the bodies.
	MarkSent(ctx context.Context, id, worker string, at int64) error
	// MarkFailed schedules another try at next.
	MarkFailed(ctx context.Context, id, worker, errText string, next int64) error
	// ReleaseOutbox gives back the worker's leases of messages it did not
	// try, so they are due again at once.
	ReleaseOutbox(ctx context.Context, worker string, ids []string) error
	// OutboxPending counts messages not yet delivered.
	OutboxPending(ctx context.Context) (int, error)
	// PurgeOutbox deletes the rows of messages delivered before sentBefore.
	PurgeOutbox(ctx context.Context, sentBefore int64) (int, error)
}
