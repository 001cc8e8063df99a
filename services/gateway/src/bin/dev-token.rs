//! Mints a development token: `dev-token <user-uuid> [ttl-secs]`, signed with
//! `JWT_SECRET` (and `JWT_ISSUER` / `JWT_AUDIENCE` when set).
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let user =
        args.next().ok_or_else(|| anyhow::anyhow!("usage: dev-token <user-uuid> [ttl-secs]"))?;
    let user =
        uuid::Uuid::parse_str(&user).map_err(|_| anyhow::anyhow!("user id must be a UUID"))?;
    let ttl: u64 = args.next().map(|t| t.parse()).transpose()?.unwrap_or(24 * 3600);
    let env = shared::config::Env::process(gateway::config::ENV_VARS);
    let secret = env.required("JWT_SECRET")?;
    if secret.len() < shared::auth::MIN_SECRET_BYTES {
        anyhow::bail!("JWT_SECRET must be at least {} bytes", shared::auth::MIN_SECRET_BYTES);
    }
    let (iss, aud) = (env.var("JWT_ISSUER")?, env.var("JWT_AUDIENCE")?);
    println!("{}", shared::auth::mint(&secret, user, ttl, iss.as_deref(), aud.as_deref())?);
    Ok(())
}
