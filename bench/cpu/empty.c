/* Start-up probe: does nothing.  The runner times it to measure the fixed
 * cost of starting an engine, loading a module and running _start. */
int main(void) { return 0; }
