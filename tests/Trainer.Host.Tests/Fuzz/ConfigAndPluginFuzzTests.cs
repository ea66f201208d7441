using System.Reflection.PortableExecutable;
using Trainer.Core.Tests.Fuzz;
using Trainer.Host.Cli;
using Trainer.Host.Tests.Cli;

namespace Trainer.Host.Tests.Fuzz;

/// <summary>
/// The configuration files (appsettings.json in the working folder, --config FILE) and a plugin assembly, damaged every way
/// the fuzz suite knows: one error naming the file, exit code 2 (configuration), no stack trace, nothing written.
/// </summary>
[Collection(FuzzRun.Collection)]
public sealed class ConfigAndPluginFuzzTests(FuzzRun run)
{
    private const string Plugin = "CustomCompressor";

    public static TheoryData<string, DamageKind, int> Cases()
    {
        var rows = new TheoryData<string, DamageKind, int>();
        foreach (var file in new[] { "--config", "appsettings.json", "plugin" })
        {
            rows.Add(file, DamageKind.Empty, 0);
            rows.Add(file, DamageKind.Truncated, 1);
            rows.Add(file, DamageKind.Truncated, 2);
            rows.Add(file, DamageKind.Flipped, 1);
            rows.Add(file, DamageKind.Flipped, 2);
            rows.Add(file, DamageKind.Foreign, 0);
            rows.Add(file, DamageKind.Directory, 0);
        }
        rows.Add("plugin", DamageKind.Foreign, 1);
        return rows;
    }

    /// <summary>A case folder whose plugins/ holds a copy of the example plugin, and the plugin's path there.</summary>
    private static string CopyPlugin(string folder)
    {
        var to = Directory.CreateDirectory(Path.Combine(folder, "plugins", Plugin)).FullName;
        foreach (var file in Directory.GetFiles(Path.Combine(CompressVerbTests.PluginsBin, Plugin)))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        return Path.Combine(to, Plugin + ".dll");
    }

    /// <summary>The PE checksum field: the loader never reads it and the content id leaves it out (signing sets it), so a flip
    /// there leaves an assembly that loads exactly as before; flips avoid it.</summary>
    private static (int, int) PeChecksum(string assembly)
    {
        using var pe = new PEReader(File.OpenRead(assembly));
        return (pe.PEHeaders.PEHeaderStartOffset + 64, pe.PEHeaders.PEHeaderStartOffset + 68);
    }

    private (string Target, string[] Args, string Foreign) Setup(string file, string folder, int seed) => file switch
    {
        "--config" => (Path.Combine(folder, "config.json"), ["train", "--config", Path.Combine(folder, "config.json"), "--Trainer:RunName=fresh"],
            run.Original("masks.json")),
        "appsettings.json" => (Path.Combine(folder, "appsettings.json"), ["train", "--Trainer:RunName=fresh"], run.Original("masks.json")),
        _ => (CopyPlugin(folder), ["analyze", "flops", $"--Compression:PluginsDir={Path.Combine(folder, "plugins")}",
                $"--Compression:Plugins:0={Plugin}", $"--Analyze:OutputDir={Path.Combine(folder, "reports")}"],
            // A native library, or a .NET assembly that holds no compressor.
            seed == 0 ? Path.Combine(AppContext.BaseDirectory, "libtrainer_iosinit_shim.so") : typeof(Spectre.Console.Color).Assembly.Location),
    };

    /// <summary>Damages the file in a new case folder, runs the verb there (in that folder, for appsettings.json) and checks the contract.</summary>
    private void Check(string file, DamageKind damage, int seed)
    {
        var folder = run.NewCase(file.Trim('-').Replace('.', '-'), withRun: false);
        var (target, args, foreign) = Setup(file, folder, seed);
        if (file == "appsettings.json") File.Copy(Path.Combine(folder, "config.json"), target);
        bool text = file != "plugin";
        var description = damage switch
        {
            DamageKind.Empty => Damage.Empty(target),
            DamageKind.Truncated => Damage.Truncate(target, seed),
            DamageKind.Flipped => Damage.Flip(target, seed, text: text, skip: text ? [] : [PeChecksum(target)]),
            DamageKind.Foreign => Damage.Replace(target, foreign),
            DamageKind.Directory => Damage.WithDirectory(target),
            _ => Damage.Unreadable(target),
        };
        var before = Damage.Hashes(folder);
        var result = file == "appsettings.json"
            ? InFolder(folder, () => FuzzRun.Cli(folder, args, damage == DamageKind.Unreadable))
            : FuzzRun.Cli(folder, args, damage == DamageKind.Unreadable);
        // A plugin error names the plugin's file ("plugin CustomCompressor.dll: ..."); the path where it could be read.
        FuzzRun.AssertOneErrorAndNothingChanged(result, TrainerCli.BadInput, text ? target : Path.GetFileName(target), $"{file}, {damage}: {description}",
            before, folder);
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="folder"/> as the working folder, where the host looks for
    /// appsettings.json (the Host tests do not run in parallel, so no other test sees it).</summary>
    private static T InFolder<T>(string folder, Func<T> action)
    {
        var previous = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(folder);
        try
        {
            return action();
        }
        finally
        {
            Directory.SetCurrentDirectory(previous);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_damaged_configuration_file_or_plugin_is_one_error_naming_it_with_exit_code_2(string file, DamageKind damage, int seed) =>
        Check(file, damage, seed);

    [UnreadableTheory]
    [InlineData("--config")]
    [InlineData("appsettings.json")]
    [InlineData("plugin")]
    public void An_unreadable_configuration_file_or_plugin_is_one_error_naming_it(string file) => Check(file, DamageKind.Unreadable, 0);

    [Fact]
    public void The_undamaged_configuration_and_plugin_get_past_loading()
    {
        // The same verbs on the undamaged files fail only later, on data that is not there: proof the files were accepted.
        var folder = run.NewCase("undamaged-config", withRun: false);
        File.Copy(Path.Combine(folder, "config.json"), Path.Combine(folder, "appsettings.json"));
        foreach (var file in new[] { "--config", "appsettings.json" })
        {
            var (_, args, _) = Setup(file, folder, 0);
            var result = InFolder(folder, () => FuzzRun.Cli(folder, args));
            Assert.True(result.Code == TrainerCli.JobFailed && result.Err.Contains("Fashion-MNIST folder"), $"{file}: {result.Err}");
        }
        var (_, pluginArgs, _) = Setup("plugin", folder, 0);
        var flops = FuzzRun.Cli(folder, pluginArgs);
        Assert.True(flops.Code == 0, flops.Err);
    }
}
