package portal

import "context"

// Webhooks tell the operator's other systems what happened: each endpoint
// gets the event types it chose, signed in the Standard Webhooks layout,
// at least once (a unique message id per delivery lets the receiver drop
// repeats), retried with backoff for 24 hours.
type WebhookEndpoint struct {
	ID     string
	URL    string
	Secret string // sealed "whsec_…"
	Types  []string
	// Start is the event id the endpoint starts after: an endpoint gets
	// what happens once it exists, not the past.
	Start     string
	CreatedAt int64
}

// WebhookDelivery is one event for one endpoint.
type WebhookDelivery struct {
	ID          string // the message id: "msg_…"
	EndpointID  string
	EventID     string
	Type        string
	Payload     string
	CreatedAt   int64
	NextAt      int64
	Attempts    int
	DeliveredAt int64
	FailedAt    int64 // gave up (24 hours of retries)
	LastStatus  int   // the receiver's last HTTP status (0: none)
	LastError   string
}

// WebhookTypes maps security event types to the webhook types receivers
// subscribe to.
var WebhookTypes = map[string]string{
	EventUserCreated:        "user.created",
	EventTwoFactorEnabled:   "2fa.enabled",
	EventTwoFactorDisabled:  "2fa.disabled",
	EventMethodAdded:        "2fa.method_added",
	EventMethodRemoved:      "2fa.method_removed",
	EventBackupUsed:         "backup_codes.used",
	EventBackupGenerated:    "backup_codes.regenerated",
	EventLoginLocked:        "lockout",
	EventSecondFactorLocked: "lockout",
	EventSecondFactorFrozen: "lockout",
	EventRecoveryRequested:  "recovery.requested",
	EventRecoveryApproved:   "recovery.approved",
	EventRecoveryCompleted:  "recovery.completed",
	EventAdminReset:         "2fa.staff_reset",
	EventPasswordChanged:    "password.changed",
	EventNewDeviceSignIn:    "sign_in.new_device",
	EventAppAuthorized:      "app.access_granted",
	EventAppAccessRevoked:   "app.access_revoked",
	EventUserDisabled:       "user.disabled",
	EventUserEnabled:        "user.enabled",
}

// WebhookTypeList is every webhook type, in the order the console shows.
var WebhookTypeList = []string{"user.created", "user.disabled", "user.enabled", "password.changed", "sign_in.new_device",
	"2fa.enabled", "2fa.disabled", "2fa.method_added", "2fa.method_removed", "2fa.staff_reset",
	"backup_codes.used", "backup_codes.regenerated", "lockout",
	"recovery.requested", "recovery.approved", "recovery.completed", "app.access_granted", "app.access_revoked"}

// WebhookStore keeps endpoints and deliveries.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, e *WebhookEndpoint) error
	Webhooks(ctx context.Context) ([]*WebhookEndpoint, error)
	DeleteWebhook(ctx context.Context, id string) error
	// QueueWebhooks adds the deliveries (one per endpoint and event; a
	// repeat is ignored) and moves the dispatch cursor to cursor, in one
	// transaction.
	QueueWebhooks(ctx context.Context, ds []*WebhookDelivery, cursor string) error
	WebhookCursor(ctx context.Context) (string, error)
	// ClaimWebhooks leases due deliveries to worker until leaseUntil: at
	// most n, the oldest, and at most perEndpoint of one endpoint's.
	ClaimWebhooks(ctx context.Context, worker string, n, perEndpoint int, now, leaseUntil int64) ([]*WebhookDelivery, error)
	// RenewWebhook extends a lease the worker still holds (false when it
	// ran out and another worker may have the delivery now).
	RenewWebhook(ctx context.Context, id, worker string, now, until int64) (bool, error)
	// FinishWebhook records an attempt by the lease's holder: delivered,
	// failed for good, or due again at next.
	FinishWebhook(ctx context.Context, d *WebhookDelivery, worker string) error
	WebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]*WebhookDelivery, error)
	// ResendWebhook makes a delivery due now again (attempts and the 24
	// hours start over).
	ResendWebhook(ctx context.Context, id string, now int64) error
}
