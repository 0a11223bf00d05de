/**
 * RDP order grids. The default is dp_accounting's wide grid:
 * 1.1..10.9 step 0.1, 11..63, 128, 256, 512, 1024.
 */
function buildDefaultOrders(): number[] {
  const orders: number[] = [];
  for (let i = 11; i <= 109; i++) orders.push(i / 10);
  for (let a = 11; a <= 63; a++) orders.push(a);
  orders.push(128, 256, 512, 1024);
  return orders;
}

/** The default wide order grid (frozen). */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze(buildDefaultOrders());
