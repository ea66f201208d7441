using Trainer.Core.Tests.Fuzz;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Fuzz;

/// <summary>
/// Every file of a run that a verb reads (checkpoints, compression and export manifests and weights, the quantized file,
/// the IDX data, a masks file), damaged in a copy of a real run and read by the verb that reads it: one error naming the
/// file, exit code 1, no stack trace, and not one byte of the run folder changed.
/// </summary>
[Collection(FuzzRun.Collection)]
public sealed class RunFileFuzzTests(FuzzRun run)
{
    /// <summary>A file of a run, the verb that reads it, and the same kind of file of another model.</summary>
    /// <param name="Target">The file, relative to a case folder.</param>
    /// <param name="Args">The verb and its settings, given the case folder.</param>
    /// <param name="Foreign">The other model's file, in the fixture's source folder.</param>
    /// <param name="Text">JSON: flips flip bit 7 (see <see cref="Damage.Flip"/>).</param>
    /// <param name="Skip">Byte ranges that carry neither data nor a check (see the gzip case).</param>
    private sealed record FileKind(string Target, Func<string, string[]> Args, string[] Foreign, bool Text = false, (int, int)[]? Skip = null);

    private static readonly (int, int)[] GzipStampAndOs = [(4, 10)];

    private static string P(string folder, string relative) => Path.Combine(folder, relative);

    private static string[] Resume(string verb, params string[] extra) => [verb, "--resume", .. extra];

    private static readonly Dictionary<string, FileKind> Kinds = new()
    {
        // The reported case's verb: a trained checkpoint given to compress (as a new compression run, "r2").
        ["best checkpoint"] = new("ckpt/r/best.ckpt",
            f => ["compress", "--Trainer:RunName=r2", $"--Model:Checkpoint={P(f, "ckpt/r/best.ckpt")}"],
            ["ckpt", "r", "compress", "iteration-1.weights"]),
        ["last checkpoint"] = new("ckpt/r/last.ckpt", _ => Resume("train", "--Trainer:Epochs=2"),
            ["ckpt", "r", "compress", "iteration-1.weights"]),
        ["compression manifest"] = new("ckpt/r/compress/manifest.json",
            f => Resume("compress", $"--Model:Checkpoint={P(f, "ckpt/r/best.ckpt")}"), ["ckpt", "other", "compress", "manifest.json"], Text: true),
        ["iteration weights"] = new("ckpt/r/compress/iteration-1.weights",
            f => Resume("compress", $"--Model:Checkpoint={P(f, "ckpt/r/best.ckpt")}"), ["ckpt", "other", "compress", "iteration-1.weights"]),
        ["original weights"] = new("ckpt/r/compress/original.weights",
            f => Resume("compress", $"--Model:Checkpoint={P(f, "ckpt/r/best.ckpt")}"), ["ckpt", "r", "compress", "iteration-1.weights"]),
        ["export manifest"] = new("ckpt/r/export/manifest.json", _ => Resume("export"), ["ckpt", "r", "compress", "manifest.json"], Text: true),
        ["export weights"] = new("ckpt/r/export/inference.weights", _ => Resume("export"), ["ckpt", "r", "compress", "iteration-1.weights"]),
        ["quantized file"] = new("ckpt/r/quantize/quantized.trnq",
            f => Resume("quantize", $"--Model:Manifest={P(f, "ckpt/r/compress/manifest.json")}"), ["ckpt", "other", "quantize", "quantized.trnq"]),
        // A new training run on damaged data; the test split's file (another length) is the foreign one.
        ["training images"] = new("data/train-images-idx3-ubyte", _ => ["train", "--Trainer:RunName=fresh"],
            ["data", "t10k-images-idx3-ubyte"], Skip: GzipStampAndOs),
        ["training labels"] = new("data/train-labels-idx1-ubyte", _ => ["train", "--Trainer:RunName=fresh"],
            ["data", "t10k-labels-idx1-ubyte"], Skip: GzipStampAndOs),
        ["masks"] = new("masks.json", f => ["analyze", "masks", $"--Analyze:Masks={P(f, "masks.json")}", $"--Analyze:OutputDir={P(f, "reports")}"],
            ["masks-other.json"], Text: true),
    };

    public static TheoryData<string, DamageKind, int> Cases()
    {
        var rows = new TheoryData<string, DamageKind, int>();
        foreach (var kind in Kinds.Keys)
        {
            rows.Add(kind, DamageKind.Empty, 0);
            rows.Add(kind, DamageKind.Truncated, 1);
            rows.Add(kind, DamageKind.Truncated, 2);
            rows.Add(kind, DamageKind.Flipped, 1);
            rows.Add(kind, DamageKind.Flipped, 2);
            rows.Add(kind, DamageKind.Foreign, 0);
            rows.Add(kind, DamageKind.Directory, 0);
        }
        return rows;
    }

    public static TheoryData<string> KindNames() => [.. Kinds.Keys];

    /// <summary>Damages the kind's file in a new case folder, runs its verb there and checks the contract.</summary>
    private void Check(string name, DamageKind damage, int seed)
    {
        var kind = Kinds[name];
        var folder = run.NewCase(name.Replace(' ', '-'));
        var target = P(folder, kind.Target);
        var description = damage switch
        {
            DamageKind.Empty => Damage.Empty(target),
            DamageKind.Truncated => Damage.Truncate(target, seed),
            DamageKind.Flipped => Damage.Flip(target, seed, text: kind.Text, skip: kind.Skip ?? []),
            DamageKind.Foreign => Damage.Replace(target, run.Original(kind.Foreign)),
            DamageKind.Directory => Damage.WithDirectory(target),
            _ => Damage.Unreadable(target),
        };
        var before = Damage.Hashes(folder);
        var result = FuzzRun.Cli(folder, kind.Args(folder), enforcePermissions: damage == DamageKind.Unreadable);
        FuzzRun.AssertOneErrorAndNothingChanged(result, TrainerCli.JobFailed, target, $"{name}, {damage}: {description}", before, folder);
        var expected = damage switch
        {
            DamageKind.Directory => "is a directory",
            DamageKind.Unreadable => "permission denied",
            _ => "",
        };
        Assert.True(result.Err.Contains(expected), $"{name}, {description}: {result.Err}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_damaged_run_file_is_one_error_naming_it_with_exit_code_1_and_the_run_unchanged(string kind, DamageKind damage, int seed) =>
        Check(kind, damage, seed);

    [UnreadableTheory]
    [MemberData(nameof(KindNames))]
    public void An_unreadable_run_file_is_one_error_saying_permission_denied(string kind) => Check(kind, DamageKind.Unreadable, 0);

    [Fact]
    public void The_undamaged_copies_are_read_by_the_same_verbs()
    {
        // Without this the cases above could pass on a verb that fails for another reason.
        var folder = run.NewCase("undamaged");
        foreach (var (name, kind) in Kinds.Where(k => !k.Key.StartsWith("training") && k.Key != "best checkpoint"))
        {
            var result = FuzzRun.Cli(folder, kind.Args(folder));
            Assert.True(result.Code == 0, $"{name}: {result.Err}");
        }
    }
}
