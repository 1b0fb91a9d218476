//! Reloads without harm (issue 5): open streams on one cluster survive
//! twenty configuration changes that do not touch it.
