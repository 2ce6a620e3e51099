//! One module per page, and the device-limit screen of `/login`.

pub mod account;
pub mod admin;
pub mod device_limit;
pub mod home;
pub mod login;
pub mod not_found;
pub mod watch;
