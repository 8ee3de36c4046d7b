//! Integration tests: every test starts the real server on port 0 with its own SQLite file (or,
//! with `JOBCAST_TEST_BACKEND=postgres`, its own PostgreSQL database; see `helpers`) and talks
//! HTTP to it. One binary, one file per area.

mod binary;
mod helpers;

mod attempts;
mod auth;
mod backup;
mod bad_requests;
mod browser;
mod bulk;
mod cli;
mod command;
mod control;
mod cors;
mod dashboard;
mod dashboard_browser;
mod events;
mod families;
mod hostile;
mod injection;
mod jobs;
mod library;
mod limits;
mod load;
mod nodes;
mod openapi;
mod operations;
mod outage;
mod poller;
mod process;
mod retention;
mod runner;
mod schedules;
mod search;
mod store;
mod stream;
mod uploads;
mod worker_example;
mod workers;
