//! The statements both backends run with the same text. sqlx binds SQLite's `$N` parameters by
//! their number, as PostgreSQL does, so one spelling serves both; what truly differs (claims
//! with `SKIP LOCKED`, change numbering, notifications, JSON functions, batched writes) stays
//! with its backend.
