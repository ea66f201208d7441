namespace Trainer.Abstractions.Compression;

/// <summary>
/// Marks an assembly as a Trainer plugin and records the contract it was built against. Every plugin carries it:
/// <code>[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]</code>
/// <see cref="ContractVersion.Major"/> is a constant, so the value is fixed when the plugin is compiled; the host
/// compares it with its own and refuses a plugin built against another major version.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class TrainerPluginAttribute : Attribute
{
    /// <summary>The <see cref="ContractVersion.Major"/> the plugin was compiled against.</summary>
    public int ContractMajor { get; set; }
}
