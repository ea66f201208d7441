using Trainer.Core.Graph;
using Trainer.Core.Tests.Fuzz;
using Trainer.Host.Cli;
using Trainer.Host.Tests.Cli;

namespace Trainer.Host.Tests.Fuzz;

/// <summary>
/// The real files of one small run, made once per test class: `trainer run` (train → compress → export → quantize) on
/// synthetic Fashion-MNIST for one epoch as run "r", and a second compression of its checkpoint to other widths as run
/// "other" (the source of foreign manifests, weights and quantized files). Each case copies run "r" into a folder of its
/// own, damages one file there and runs a verb against that folder.
/// </summary>
public sealed class FuzzRun : IDisposable
{
    /// <summary>The test collection whose classes share one fixture run (it takes the longest of the suite to make).</summary>
    public const string Collection = "damaged files of one run";

    private readonly SyntheticFashionMnist _data = new();

    /// <summary>Everything of this fixture lives under this folder.</summary>
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "trainer-fuzz-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>The undamaged run: ckpt/, runs/, data/, masks.json, masks-other.json, config.json.</summary>
    public string Source => Path.Combine(Root, "source");

    /// <summary>Settings every verb of the suite gets: one epoch, small batches, and the fixture's compressor and quantizer.</summary>
    public static readonly string[] Settings =
    [
        "--Trainer:RunName=r", "--Trainer:BatchSize=32", "--Trainer:EvalBatchSize=64", "--Trainer:LearningRate=0.05", "--Trainer:Epochs=1",
        "--Trainer:WeightHistograms=false", $"--Compression:PluginsDir={CompressVerbTests.PluginsBin}",
        "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=Quantizers", "--Compression:Compressor=channel-pruning",
        "--Compression:Settings:method=l1", "--Compression:Allocation=compressor", "--Compression:FinetuneEpochs=0",
        "--Quantization:Quantizer=naive",
    ];

    public FuzzRun()
    {
        CopyDirectory(_data.Directory, Path.Combine(Source, "data"));
        var (code, _, err) = Cli(Source, ["run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export",
            "--Pipeline:Stages:3=quantize"]);
        if (code != 0) throw new InvalidOperationException($"the fixture run failed ({code}): {err}");
        (code, _, err) = Cli(Source, ["run", "--Trainer:RunName=other", "--Pipeline:Stages:0=compress", "--Pipeline:Stages:1=quantize",
            $"--Model:Checkpoint={Path.Combine(Source, "ckpt", "r", "best.ckpt")}", "--Compression:TargetFlopsRatio=0.3"]);
        if (code != 0) throw new InvalidOperationException($"the fixture's second compression failed ({code}): {err}");
        MaskFile.Save(Path.Combine(Source, "masks.json"), FashionCnnMasks(1));
        MaskFile.Save(Path.Combine(Source, "masks-other.json"), FashionCnnMasks(2));
        File.WriteAllText(Path.Combine(Source, "config.json"), "{\"Trainer\": {\"Epochs\": 1, \"LogEveryNSteps\": 4}}");
    }

    /// <summary>Masks of the Fashion CNN's layers, each channel kept but every third; <paramref name="divisor"/> 2 gives another
    /// model's masks (half the channels of each layer).</summary>
    private static Dictionary<string, bool[]> FashionCnnMasks(int divisor) => new[] { ("conv1", 32), ("conv2", 64), ("conv3", 128), ("fc1", 256) }
        .ToDictionary(l => l.Item1, l => Enumerable.Range(0, l.Item2 / divisor).Select(i => i % 3 != 0).ToArray());

    /// <summary>A file of the undamaged run, e.g. Original("ckpt", "other", "compress", "manifest.json").</summary>
    public string Original(params string[] parts) => Path.Combine([Source, .. parts]);

    /// <summary>
    /// A fresh copy of run "r" (its ckpt/r and runs/r) and the data, unless <paramref name="withRun"/> is false (cases that
    /// stop at configuration or plugin loading), and the small input files, for one case.
    /// </summary>
    public string NewCase(string name, bool withRun = true)
    {
        var folder = Path.Combine(Root, "cases", $"{name}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(folder);
        foreach (var part in withRun ? new[] { Path.Combine("ckpt", "r"), Path.Combine("runs", "r"), "data" } : [])
            CopyDirectory(Path.Combine(Source, part), Path.Combine(folder, part));
        foreach (var file in new[] { "masks.json", "config.json" }) File.Copy(Path.Combine(Source, file), Path.Combine(folder, file));
        return folder;
    }

    /// <summary>
    /// Runs the command line in-process against <paramref name="folder"/> (logs, checkpoints and data there). An exception
    /// that escapes the CLI is returned as exit code -1 with the exception text on "stderr", so the assertion shows it.
    /// </summary>
    public static (int Code, string Out, string Err) Cli(string folder, string[] args, bool enforcePermissions = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] all =
        [
            .. args, $"--Data:Path={Path.Combine(folder, "data")}", $"--Trainer:LogDir={Path.Combine(folder, "runs")}",
            $"--Trainer:CheckpointDir={Path.Combine(folder, "ckpt")}", .. Settings.Where(s => !args.Any(a => Key(a) == Key(s)))
        ];
        int Run()
        {
            try
            {
                return TrainerCli.Run(all, output, error);
            }
            catch (Exception e)
            {
                error.WriteLine($"UNHANDLED {e}");
                return -1;
            }
        }
        var code = enforcePermissions ? Permissions.Enforced(Run) : Run();
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The key an override sets; the items of a list count as one key, so a case's list replaces the fixture's.</summary>
    private static string Key(string arg) => System.Text.RegularExpressions.Regex.Replace(arg.Split('=')[0], @":\d+$", "");

    /// <summary>
    /// The contract of every damaged-file case: exit <paramref name="code"/>, exactly one line on stderr, "error: " and the
    /// damaged file's path in it, no stack trace, and every file of the case folder as it was before the run.
    /// </summary>
    public static void AssertOneErrorAndNothingChanged((int Code, string Out, string Err) result, int code, string file, string damage,
        IReadOnlyDictionary<string, string> before, string folder)
    {
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(result.Code == code, $"{damage}: exit code {result.Code}, expected {code}; stderr: {result.Err}");
        Assert.True(lines.Length == 1, $"{damage}: {lines.Length} lines on stderr: {result.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.True(lines[0].Contains(file, StringComparison.Ordinal), $"{damage}: the error does not name {file}: {lines[0]}");
        Assert.DoesNotContain("   at ", result.Err);
        var after = Damage.Hashes(folder);
        Assert.True(before.SequenceEqual(after), $"{damage}: the run changed files: {Damage.Differences(before, after)}");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

/// <summary>Shares one <see cref="FuzzRun"/> between the fuzz test classes.</summary>
[CollectionDefinition(FuzzRun.Collection)]
public sealed class FuzzRunCollection : ICollectionFixture<FuzzRun>;
