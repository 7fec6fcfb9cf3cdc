package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/tools/cache"
)

// watch runs informers until its Close: each on a goroutine of its own,
// which Close waits for.
type watch struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newWatch starts the informers; their watch errors go to log (the API
// server unreachable, a watch expired) at debug level, as the informer
// retries by itself.
func newWatch(log *slog.Logger, what string, infs ...cache.SharedIndexInformer) (*watch, error) {
	w := &watch{}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	for _, inf := range infs {
		err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Debug("fleet: watch interrupted; it resumes", "watch", what, "err", err)
			}
		})
		if err != nil {
			w.cancel()
			return nil, fmt.Errorf("fleet: watch %s: %w", what, err)
		}
	}
	for _, inf := range infs {
		w.wg.Go(func() { inf.RunWithContext(w.ctx) })
	}
	return w, nil
}

// synced waits until every informer has its first list, or ctx ends.
func (w *watch) synced(ctx context.Context, what string, infs ...cache.SharedIndexInformer) error {
	for _, inf := range infs {
		if ctx.Err() != nil {
			return fmt.Errorf("fleet: the first list of %s: %w", what, context.Cause(ctx))
		}
		select {
		case <-inf.HasSyncedChecker().Done():
		case <-ctx.Done():
			return fmt.Errorf("fleet: the first list of %s: %w", what, context.Cause(ctx))
		}
	}
	return nil
}

// Close stops the informers and waits for their goroutines. It is
// idempotent.
func (w *watch) Close() {
	w.cancel()
	w.wg.Wait()
}
