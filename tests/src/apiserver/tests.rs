//! Unit tests of the test apiserver's parts, and what several of them use.

use crate::apiserver::authz::Attributes;
use crate::apiserver::identity::UserInfo;

mod authz;
mod impersonation;
mod patch;
mod protobuf;
mod request_info;
mod selectors;
mod store;
mod table;

/// The attributes of a resource request: `user` asks to `verb` the
/// `sub`resource of `group`'s `resource` named `name` in namespace `ns`
/// (empty: cluster scope, all names, no subresource).
#[allow(clippy::too_many_arguments)]
pub(crate) fn resource_attributes<'a>(
    user: &'a UserInfo,
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    sub: &'a str,
    ns: &'a str,
    name: &'a str,
) -> Attributes<'a> {
    Attributes {
        user,
        verb,
        is_resource: true,
        api_group: group,
        resource,
        subresource: sub,
        namespace: ns,
        name,
        path: "",
    }
}
