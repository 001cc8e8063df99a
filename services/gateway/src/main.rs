use gateway::{config::Settings, startup::Application};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("gateway");
    let settings = Settings::load()?;
    let grace = settings.common.shutdown_grace;
    let app = Application::build(settings).await?;
    app.run_until_stopped(shared::shutdown::signal_with_watchdog(grace)).await
}
