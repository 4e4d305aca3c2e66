/**
 * When the join screen's "Join" counts. Any invite origin can send a person to the join screen
 * (or open it in a small window under the pointer) and time a click or an Enter to land on
 * it, so Join counts only once the screen has been on view, unchanged, for `delayMs`, and again
 * after every return to it (focus, or the tab becoming visible). Pure: timers come in.
 */
export const JOIN_ARM_DELAY_MS = 800;

export interface ArmingTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export class JoinArming {
  private handle: unknown = null;
  private isArmed = false;

  constructor(
    private readonly timers: ArmingTimers,
    private readonly onChange: (armed: boolean) => void,
    private readonly delayMs = JOIN_ARM_DELAY_MS,
  ) {}

  get armed(): boolean {
    return this.isArmed;
  }

  /** The screen came (back) into view: start the wait again. Hidden: stay unarmed. */
  shown(visible: boolean): void {
    this.disarm();
    if (!visible) return;
    this.handle = this.timers.set(() => {
      this.handle = null;
      this.isArmed = true;
      this.onChange(true);
    }, this.delayMs);
  }

  /** The screen lost focus or view. */
  disarm(): void {
    if (this.handle !== null) this.timers.clear(this.handle);
    this.handle = null;
    if (this.isArmed) {
      this.isArmed = false;
      this.onChange(false);
    }
  }
}
