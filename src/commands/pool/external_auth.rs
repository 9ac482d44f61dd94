//! `pool-enable-external-auth` and `pool-disable-external-auth`: join the
//! pool's hosts to a directory (`auth-type=AD service-name=DOMAIN
//! config:user=... config:pass=...`), or leave it.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const ENABLE: CommandSpec = CommandSpec {
    name: "pool-enable-external-auth",
    help: "Turn on external authentication (a directory such as AD) for every host of the pool.",
    run: Run::Fn(enable),
};

pub const DISABLE: CommandSpec = CommandSpec {
    name: "pool-disable-external-auth",
    help: "Turn off external authentication for every host of the pool.",
    run: Run::Fn(disable),
};

fn config(ctx: &Context) -> Value {
    Value::Struct(ctx.params.map("config").into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn enable(ctx: &mut Context) -> CmdResult {
    let auth_type = ctx.params.required("auth-type")?.to_string();
    let service_name = ctx.params.required("service-name")?.to_string();
    let pool = super::named_or_only(ctx)?;
    let config = config(ctx);
    ctx.call(
        "pool.enable_external_auth",
        vec![Value::String(pool), config, Value::String(service_name), Value::String(auth_type)],
    )?;
    Ok(())
}

fn disable(ctx: &mut Context) -> CmdResult {
    let pool = super::named_or_only(ctx)?;
    let config = config(ctx);
    ctx.call("pool.disable_external_auth", vec![Value::String(pool), config])?;
    Ok(())
}
