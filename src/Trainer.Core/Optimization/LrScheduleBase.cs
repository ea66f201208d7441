using System.Text.Json.Nodes;
using TorchSharp;

namespace Trainer.Core.Optimization;

/// <summary>Shared plumbing of the schedules: the base rates and writing rates into the optimizer.</summary>
public abstract class LrScheduleBase : ILrSchedule
{
    /// <summary>Creates the schedule, remembering each parameter group's starting rate.</summary>
    protected LrScheduleBase(torch.optim.Optimizer optimizer)
    {
        Optimizer = optimizer;
        BaseRates = optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();
    }

    /// <summary>The optimizer whose rates are scheduled.</summary>
    protected torch.optim.Optimizer Optimizer { get; }

    /// <summary>Each parameter group's rate before the first step.</summary>
    protected double[] BaseRates { get; private set; }

    /// <inheritdoc />
    public abstract void Step(int epoch, double? validationLoss);

    /// <summary>Sets every group's rate to <paramref name="rate"/>(group index, base rate).</summary>
    protected void SetRates(Func<int, double, double> rate)
    {
        var i = 0;
        foreach (var group in Optimizer.ParamGroups)
        {
            group.LearningRate = rate(i, BaseRates[i]);
            i++;
        }
    }

    /// <inheritdoc />
    public virtual JsonObject SaveState() => new()
    {
        ["base_rates"] = new JsonArray(BaseRates.Select(r => (JsonNode)r).ToArray()),
        ["rates"] = new JsonArray(Optimizer.ParamGroups.Select(g => (JsonNode)g.LearningRate).ToArray()),
    };

    /// <inheritdoc />
    public virtual void LoadState(JsonObject state)
    {
        BaseRates = state["base_rates"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        var rates = state["rates"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        SetRates((i, _) => rates[i]);
    }
}
