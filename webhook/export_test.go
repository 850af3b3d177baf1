package webhook

import (
	"context"

	"github.com/clientportal/portal"
)

// DeliverWithList delivers with the endpoint list eps, as read before the
// run (endpoints made since are not in it).
func (w *Worker) DeliverWithList(ctx context.Context, eps []*portal.WebhookEndpoint) (int, error) {
	return w.deliver(ctx, eps)
}
