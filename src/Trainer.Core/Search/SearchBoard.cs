using System.Globalization;
using TorchSharp;

namespace Trainer.Core.Search;

/// <summary>TensorBoard scalars of a ratio search: reward, score and MACs ratio of every trial (step = trial index), and
/// the best policy's keep ratio per group, and the finalists' scores (step = their rank in the search).</summary>
/// <remarks>TorchSharp's writer appends every event to its file as it is logged, so there is nothing to flush or close.</remarks>
public sealed class SearchBoard(string logDir)
{
    private readonly TorchSharp.Modules.SummaryWriter writer = torch.utils.tensorboard.SummaryWriter(logDir);

    /// <summary>Logs every trial of <paramref name="result"/> and its best policy.</summary>
    public void Log(SearchResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var full = Math.Max(1, result.Best.FullMacs);
        foreach (var trial in result.History)
        {
            writer.add_scalar("search/reward", (float)trial.Reward, trial.Index);
            writer.add_scalar("search/score", (float)trial.Score, trial.Index);
            writer.add_scalar("search/macs_ratio", (float)((double)trial.Macs / full), trial.Index);
        }
        if (result.Finalists is { } finalists)
            for (int rank = 0; rank < finalists.Count; rank++) writer.add_scalar("finalists/score", (float)finalists[rank].Score, rank);
        foreach (var group in result.Best.Groups) writer.add_scalar($"policy/{group.Id}", (float)group.Ratio, 0);
        var widths = string.Join(", ", result.Best.Groups.Select(g => $"{g.Id} {g.Kept}/{g.Channels}"));
        writer.add_text("search/best", string.Create(CultureInfo.InvariantCulture,
            $"{result.Best.Method}: score {result.Best.Score:0.####}, reward {result.Best.Reward:0.####}, MACs {result.Best.MacsRatio:0.###} of the model; {widths}"), 0);
    }
}
