using System.Globalization;
using System.Text.Json;

namespace Benchmarks.FashionCompression;

/// <summary>One compressed model of the comparison.</summary>
internal sealed record MethodRow(string Method, long Macs, long Params, double AccuracyBeforeFinetune, double AccuracyAfterFinetune, double CompressSeconds);

/// <summary>Prints the comparison as a table and one JSON line.</summary>
internal static class Report
{
    public static void Print(BenchOptions options, Measurement unpruned, IReadOnlyList<MethodRow> rows)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"Fashion CNN pruned to {options.TargetFlopsRatio:P0} of the MACs; fine-tune {options.FinetuneEpochs} epoch(s) at lr {options.FinetuneLr}"));
        Console.WriteLine($"| {"method",-10} | {"MACs",12} | {"MACs %",7} | {"params",10} | {"acc before ft",13} | {"acc after ft",12} | {"compress s",10} |");
        Console.WriteLine($"|{new string('-', 12)}|{new string('-', 14)}|{new string('-', 9)}|{new string('-', 12)}|{new string('-', 15)}|{new string('-', 14)}|{new string('-', 12)}|");
        Console.WriteLine(string.Create(c, $"| {"unpruned",-10} | {unpruned.Macs,12} | {1.0,7:P1} | {unpruned.Params,10} | {unpruned.Accuracy,13:P2} | {"",12} | {"",10} |"));
        foreach (var r in rows)
            Console.WriteLine(string.Create(c,
                $"| {r.Method,-10} | {r.Macs,12} | {(double)r.Macs / unpruned.Macs,7:P1} | {r.Params,10} | {r.AccuracyBeforeFinetune,13:P2} | {r.AccuracyAfterFinetune,12:P2} | {r.CompressSeconds,10:0.0} |"));
        var json = new
        {
            benchmark = "fashion-compression",
            target_flops_ratio = options.TargetFlopsRatio,
            finetune_epochs = options.FinetuneEpochs,
            finetune_lr = options.FinetuneLr,
            unpruned = new { accuracy = Math.Round(unpruned.Accuracy, 4), macs = unpruned.Macs, @params = unpruned.Params },
            methods = rows.Select(r => new
            {
                method = r.Method,
                macs = r.Macs,
                macs_ratio = Math.Round((double)r.Macs / unpruned.Macs, 4),
                @params = r.Params,
                accuracy_before_finetune = Math.Round(r.AccuracyBeforeFinetune, 4),
                accuracy_after_finetune = Math.Round(r.AccuracyAfterFinetune, 4),
                compress_seconds = Math.Round(r.CompressSeconds, 1),
            }),
        };
        Console.WriteLine(JsonSerializer.Serialize(json));
    }
}
