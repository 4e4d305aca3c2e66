/**
 * Coalesces every change in one task into one view for each listener, so a burst of signals
 * costs one projection, and a listener that throws cannot stop the others from hearing it.
 */
import type { Logger } from './platform';

export class ViewEmitter<V> {
  private readonly listeners = new Set<(view: V) => void>();
  private scheduled = false;

  constructor(private readonly project: () => V, private readonly log: Logger) {}

  subscribe(listener: (view: V) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const view = this.project();
      for (const listener of this.listeners) {
        try {
          listener(view);
        } catch (err) {
          this.log.warn('view listener failed', { error: err instanceof Error ? err.message : String(err) });
        }
      }
    });
  }
}
