namespace Trainer.Core.Search;

/// <summary>AMC's search settings (<c>amc_search.py</c> defaults unless noted).</summary>
public sealed record DdpgOptions
{
    /// <summary>Episodes in all, warm-up included (AMC: 800).</summary>
    public int Episodes { get; init; } = 800;

    /// <summary>Episodes of uniformly random actions that only fill the replay buffer (AMC: 100).</summary>
    public int WarmupEpisodes { get; init; } = 100;

    /// <summary>Width of the first hidden layer of actor and critic (AMC: 300).</summary>
    public int Hidden1 { get; init; } = 300;

    /// <summary>Width of the second hidden layer (AMC: 300).</summary>
    public int Hidden2 { get; init; } = 300;

    /// <summary>Actor learning rate, Adam (AMC: 1e-4).</summary>
    public double ActorLearningRate { get; init; } = 1e-4;

    /// <summary>Critic learning rate, Adam (AMC: 1e-3).</summary>
    public double CriticLearningRate { get; init; } = 1e-3;

    /// <summary>Discount of the next state's value (AMC: 1).</summary>
    public double Discount { get; init; } = 1;

    /// <summary>Minibatch size of an update (AMC: 64).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Replay buffer size per group: the buffer holds this many transitions times the group count (AMC: 100).</summary>
    public int ReplayPerGroup { get; init; } = 100;

    /// <summary>Soft update rate of the target networks (AMC: 0.01).</summary>
    public double Tau { get; init; } = 0.01;

    /// <summary>Width of the truncated-normal exploration at the first episode after warm-up (AMC: 0.5).</summary>
    public double InitialDelta { get; init; } = 0.5;

    /// <summary>Per-episode decay of the exploration width (AMC: 0.95).</summary>
    public double DeltaDecay { get; init; } = 0.95;

    /// <summary>Step of the moving-average reward baseline, per update (AMC: 0.5).</summary>
    public double BaselineAlpha { get; init; } = 0.5;

    /// <summary>What the search maximises.</summary>
    public RewardKind Reward { get; init; } = RewardKind.Accuracy;

    /// <summary>Every episode ends at the budget (the environment's wall clips actions from below too); false: AMC's code's
    /// one-sided wall, under which an episode may spend less.</summary>
    public bool ExactBudget { get; init; } = true;

    /// <summary>Seed of the networks' initialisation, the actions and the replay sampling.</summary>
    public int Seed { get; init; }

    /// <summary>Throws one clear exception for the first bad value.</summary>
    public void Validate()
    {
        if (Episodes < 1) throw new ArgumentOutOfRangeException(nameof(Episodes), Episodes, "at least one episode");
        if (WarmupEpisodes < 0 || WarmupEpisodes > Episodes)
            throw new ArgumentOutOfRangeException(nameof(WarmupEpisodes), WarmupEpisodes, $"warm-up episodes must be in [0, {Episodes}] (Episodes)");
        if (Hidden1 < 1 || Hidden2 < 1) throw new ArgumentOutOfRangeException(nameof(Hidden1), "hidden widths must be at least 1");
        if (!(ActorLearningRate > 0) || !(CriticLearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(ActorLearningRate), "learning rates must be positive");
        if (!(Discount >= 0 && Discount <= 1)) throw new ArgumentOutOfRangeException(nameof(Discount), Discount, "the discount must be in [0, 1]");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "the batch size must be at least 1");
        if (ReplayPerGroup < 1) throw new ArgumentOutOfRangeException(nameof(ReplayPerGroup), ReplayPerGroup, "at least 1 transition per group");
        if (!(Tau > 0 && Tau <= 1)) throw new ArgumentOutOfRangeException(nameof(Tau), Tau, "tau must be in (0, 1]");
        if (!(InitialDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(InitialDelta), InitialDelta, "the exploration width must be at least 0");
        if (!(DeltaDecay > 0 && DeltaDecay <= 1)) throw new ArgumentOutOfRangeException(nameof(DeltaDecay), DeltaDecay, "the decay must be in (0, 1]");
        if (!(BaselineAlpha > 0 && BaselineAlpha <= 1)) throw new ArgumentOutOfRangeException(nameof(BaselineAlpha), BaselineAlpha, "alpha must be in (0, 1]");
    }
}
