"""Invoices: priced rows -> line items and invoices (assemble), and the ledger that keeps them."""
