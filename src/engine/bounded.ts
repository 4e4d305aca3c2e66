/** Small bounded collections: every queue and set the engine keeps from network input is capped. */

/** A set that forgets its oldest members beyond `capacity`. */
export class BoundedSet<T> {
  private readonly items = new Set<T>();
  constructor(private readonly capacity: number) {}

  has(item: T): boolean {
    return this.items.has(item);
  }

  add(item: T): void {
    this.items.delete(item);
    this.items.add(item);
    while (this.items.size > this.capacity) {
      const oldest = this.items.values().next().value as T;
      this.items.delete(oldest);
    }
  }

  get size(): number {
    return this.items.size;
  }

  clear(): void {
    this.items.clear();
  }
}
