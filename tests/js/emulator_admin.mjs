// The emulator's admin API (local/marketplace/README.md), just the routes the suite needs.

export class EmulatorAdmin {
  constructor(url) {
    this.url = url.replace(/\/$/, "");
  }

  async call(method, route, body) {
    const response = await fetch(`${this.url}/admin/${route}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) {
      throw new Error(`admin ${method} /admin/${route} answered ${response.status}: ${JSON.stringify(data)}`);
    }
    return data;
  }

  reset() {
    return this.call("POST", "reset");
  }

  config(changes) {
    return this.call("PUT", "config", changes);
  }

  advanceClock(seconds) {
    return this.call("PUT", "clock", { advance_seconds: seconds });
  }

  queueError(operation, code) {
    return this.call("PUT", "faults", { next_errors: [{ operation, code }] });
  }

  product(code, dimensions, fields = {}) {
    return this.call("POST", "products", { code, dimensions, ...fields });
  }

  subscribe(productCode, accountId, fields = {}) {
    return this.call("POST", "subscriptions", { product_code: productCode, account_id: accountId, ...fields });
  }

  async ledger() {
    return (await this.call("GET", "ledger")).records;
  }
}
